//! `env`: the environment in which the user acts (terminal, OS, device, browser).

use serde::{Deserialize, Serialize};

use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `terminalType`.
    pub enum TerminalType {
        /// Desktop web.
        Web = "WEB",
        /// Mobile web.
        Wap = "WAP",
        /// Mobile app.
        App = "APP",
        /// Mini program.
        MiniApp = "MINI_APP",
    }
}

wire_enum! {
    /// `osType`: required when `terminalType` is `APP`, `WAP` or `MINI_APP`.
    pub enum OsType {
        /// Apple iOS.
        Ios = "IOS",
        /// Android.
        Android = "ANDROID",
    }
}

/// `env` object (SDK `Env`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Env {
    /// `terminalType` (required by pay).
    pub terminal_type: TerminalType,
    /// `osType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    /// `userAgent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `deviceTokenId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token_id: Option<String>,
    /// `clientIp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// `cookieId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_id: Option<String>,
    /// `extendInfo` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
    /// `storeTerminalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_terminal_id: Option<String>,
    /// `storeTerminalRequestTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_terminal_request_time: Option<String>,
    /// `browserInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_info: Option<BrowserInfo>,
    /// `colorDepth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_depth: Option<String>,
    /// `screenHeight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_height: Option<String>,
    /// `screenWidth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_width: Option<String>,
    /// `timeZoneOffset`: kept as raw JSON, because the docs say string and the Go SDK sends a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone_offset: Option<serde_json::Value>,
    /// `deviceBrand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_brand: Option<String>,
    /// `deviceModel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    /// `deviceLanguage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_language: Option<String>,
    /// `deviceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `osVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl Env {
    /// An `env` with only `terminalType` set.
    #[must_use]
    pub fn new(terminal_type: TerminalType) -> Self {
        Env {
            terminal_type,
            os_type: None,
            user_agent: None,
            device_token_id: None,
            client_ip: None,
            cookie_id: None,
            extend_info: None,
            store_terminal_id: None,
            store_terminal_request_time: None,
            browser_info: None,
            color_depth: None,
            screen_height: None,
            screen_width: None,
            time_zone_offset: None,
            device_brand: None,
            device_model: None,
            device_language: None,
            device_id: None,
            os_version: None,
        }
    }
}

optional_setters!(Env {
    with_os_type => os_type: OsType,
    with_user_agent => user_agent: String,
    with_device_token_id => device_token_id: String,
    with_client_ip => client_ip: String,
    with_cookie_id => cookie_id: String,
    with_extend_info => extend_info: String,
    with_browser_info => browser_info: BrowserInfo,
    with_device_id => device_id: String,
    with_os_version => os_version: String,
});

/// `env.browserInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BrowserInfo {
    /// `acceptHeader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_header: Option<String>,
    /// `javaEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_enabled: Option<bool>,
    /// `javaScriptEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_script_enabled: Option<bool>,
    /// `language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `userAgent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

// The autodebit console: a client of the merchant API (/v1), nothing more. The API key stays in
// this tab's sessionStorage; every POST carries a fresh Idempotency-Key. Text from the API is
// only ever written with textContent (never parsed as markup).
"use strict";

(() => {
  const KEY = "autodebit.console.key";
  const AUTH = "autodebit.console.authorization";
  const PAY = "autodebit.console.payment";
  const REFUND = "autodebit.console.refund";
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    key: null,
    sandbox: null,
    seen: new Set(),
    newestEvent: null,
    polling: false,
    lastStats: 0,
    lastViews: 0,
    timer: null,
    detail: null, // {kind: "payment"|"authorization"|"event", id}
  };

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue;
        if (k === "text") node.textContent = String(v);
        else if (k === "class") node.className = v;
        else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
        else if (k === "data") for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = dv;
        else node.setAttribute(k, String(v));
      }
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function setText(id, value, status) {
    const node = $(id);
    node.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    if (status !== undefined) node.className = status ? "s-" + status : "";
  }

  function say(message, isError) {
    const node = $("status");
    node.textContent = message;
    node.className = isError ? "status error" : "status";
  }

  // Minor units to a decimal string without floating point: USD 1000 -> "10.00".
  function money(amount, currency) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
        .maximumFractionDigits;
    } catch (_) { /* unknown currency: two digits */ }
    let s = String(amount);
    if (digits > 0) {
      s = s.padStart(digits + 1, "0");
      s = s.slice(0, s.length - digits) + "." + s.slice(s.length - digits);
    }
    return currency + " " + s;
  }

  function shortTime(iso) {
    return iso ? String(iso).replace(/^\d{4}-\d\d-\d\dT/, "").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, "") : "";
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ---- the API -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.title)) || "HTTP " + status);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + state.key, Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (method === "POST") headers["Idempotency-Key"] = "console-" + crypto.randomUUID();
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    if (!response.ok) {
      if (response.status === 401) showLogin("The API key was refused.");
      throw new ApiError(response.status, json);
    }
    return json;
  }

  async function act(label, fn) {
    say(label + "…");
    try {
      const out = await fn();
      say(label + ": done");
      await refresh(true);
      return out;
    } catch (e) {
      say(label + ": " + e.message, true);
      await refresh(true).catch(() => {});
      return null;
    }
  }

  // ---- the key -------------------------------------------------------------------------------

  function readKey() {
    // `#key=...` (never sent to a server) wins; it is then taken out of the address bar.
    const hash = location.hash.startsWith("#") ? location.hash.slice(1) : "";
    const fromHash = new URLSearchParams(hash).get("key");
    if (fromHash) {
      sessionStorage.setItem(KEY, fromHash);
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY);
  }

  function showLogin(message) {
    state.key = null;
    sessionStorage.removeItem(KEY);
    $("app").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("key-input").focus();
  }

  // ---- sandbox panel -------------------------------------------------------------------------

  const FAULTS = {
    pay_declined: { api: "pay", process: false, action: { kind: "answer", status: "F", code: "USER_BALANCE_NOT_ENOUGH" } },
    pay_unknown: { api: "pay", process: true, action: { kind: "unknown", code: "UNKNOWN_EXCEPTION" } },
    pay_dropped: { api: "pay", process: true, action: { kind: "drop" } },
    pay_held: { api: "pay", action: { kind: "hold", ms: 30000 } },
    refund_unknown: { api: "refund", process: true, action: { kind: "unknown", code: "UNKNOWN_EXCEPTION" } },
    cancel_500: { api: "cancel", process: false, action: { kind: "http500" } },
  };

  async function showSandbox() {
    const authId = sessionStorage.getItem(AUTH);
    const payId = sessionStorage.getItem(PAY);
    const refundId = sessionStorage.getItem(REFUND);
    let auth = null;
    let pay = null;
    let refund = null;
    if (authId) auth = await api("GET", "/v1/authorizations/" + encodeURIComponent(authId)).catch(() => null);
    if (payId) pay = await api("GET", "/v1/payments/" + encodeURIComponent(payId)).catch(() => null);
    if (refundId) refund = await api("GET", "/v1/refunds/" + encodeURIComponent(refundId)).catch(() => null);
    setText("sb-auth", auth ? auth.id : "none");
    setText("sb-auth-status", auth ? auth.status : null, auth && auth.status);
    setText("sb-pay", pay ? pay.id + " · " + money(pay.amount, pay.currency) : "none");
    setText("sb-pay-status", pay ? pay.status : null, pay && pay.status);
    setText("sb-pay-refunded", pay ? money(pay.amount_refunded, pay.currency) : null);
    setText("sb-pay-failure", pay && pay.failure ? pay.failure.code + ": " + pay.failure.message : null);
    setText("sb-refund", refund ? refund.id + " · " + money(refund.amount, refund.currency) : "none");
    setText("sb-refund-status", refund ? refund.status : null, refund && refund.status);
    const active = !!auth && auth.status === "active";
    $("charge").disabled = !active;
    $("revoke").disabled = !auth || ["revoked", "failed", "expired"].includes(auth.status);
    $("refund").disabled = !pay || pay.status !== "succeeded";
    $("cancel").disabled = !pay || pay.status === "cancelled" || pay.status === "failed";
  }

  // A new authorization for the demo customer; the journey starts again from it.
  async function startBinding() {
    const auth = await api("POST", "/v1/authorizations", {
      customer_id: "console-demo",
      wallet: "ALIPAY_CN",
      terminal_type: "WEB",
      return_url: location.origin + "/console",
    });
    sessionStorage.setItem(AUTH, auth.id);
    sessionStorage.removeItem(PAY);
    sessionStorage.removeItem(REFUND);
    return auth;
  }

  async function bind() {
    await act("Bind", async () => {
      const auth = await startBinding();
      if (auth.auth_url) {
        say("Opening the wallet's consent page…");
        location.assign(auth.auth_url);
      } else if (auth.qr_code) {
        say("Scan to Bind: " + auth.qr_code);
      }
      return auth;
    });
  }

  function drawQr(text) {
    const node = $("qr-code");
    clear(node);
    const matrix = qrMatrix(text);
    if (!matrix) return false;
    const quiet = 4;
    const size = matrix.length + 2 * quiet;
    node.setAttribute("viewBox", "0 0 " + size + " " + size);
    node.setAttribute("data-modules", String(matrix.length));
    node.append(svg("rect", { width: size, height: size, fill: "#fff" }));
    let d = "";
    matrix.forEach((row, y) => row.forEach((on, x) => {
      if (on) d += "M" + (x + quiet) + " " + (y + quiet) + "h1v1h-1z";
    }));
    node.append(svg("path", { d, fill: "#000", "shape-rendering": "crispEdges" }));
    return true;
  }

  // Scan to Bind: the authorization's QR code (Alipay's codeValue, or else its link), and the link.
  async function bindQr() {
    await act("Scan to Bind", async () => {
      const auth = await startBinding();
      const text = auth.qr_code || auth.auth_url || "";
      $("qr").hidden = !drawQr(text);
      const link = $("qr-link");
      if (auth.auth_url && /^https?:\/\//.test(auth.auth_url)) {
        link.setAttribute("href", auth.auth_url);
        link.hidden = false;
      } else {
        link.removeAttribute("href");
        link.hidden = true;
      }
      return auth;
    });
  }

  async function charge() {
    const amount = Number.parseInt($("amount").value, 10);
    await act("Charge", async () => {
      const pay = await api("POST", "/v1/payments", {
        authorization_id: sessionStorage.getItem(AUTH),
        amount,
        currency: $("currency").value,
        reference: "console-" + crypto.randomUUID(),
        description: "Console charge",
      });
      sessionStorage.setItem(PAY, pay.id);
      sessionStorage.removeItem(REFUND);
      return pay;
    });
  }

  async function refund() {
    const amount = Number.parseInt($("refund-amount").value, 10);
    await act("Refund", async () => {
      const r = await api("POST", "/v1/payments/" + encodeURIComponent(sessionStorage.getItem(PAY)) + "/refunds", { amount });
      sessionStorage.setItem(REFUND, r.id);
      return r;
    });
  }

  async function cancel() {
    await act("Cancel", () => api("POST", "/v1/payments/" + encodeURIComponent(sessionStorage.getItem(PAY)) + "/cancel"));
  }

  async function revoke() {
    await act("Revoke", () => api("POST", "/v1/authorizations/" + encodeURIComponent(sessionStorage.getItem(AUTH)) + "/revoke"));
  }

  async function inject() {
    const name = $("fault").value;
    await act("Inject fault", async () => {
      const rule = await api("POST", "/v1/sandbox/faults", FAULTS[name]);
      $("fault-note").textContent = "Armed: " + $("fault").selectedOptions[0].textContent + " (fires on the next " + rule.api + " call)";
      return rule;
    });
  }

  async function clearFaults() {
    await act("Clear faults", async () => {
      await api("POST", "/v1/sandbox/faults/clear");
      $("fault-note").textContent = "No fault armed.";
    });
  }

  // ---- live events ---------------------------------------------------------------------------

  function eventRow(ev, fresh) {
    const status = ev.data && ev.data.object && ev.data.object.status;
    return el("li", {
      class: fresh ? "new" : "",
      data: { kind: ev.type, subject: ev.subject || "" },
      on: { click: () => showEvent(ev.id) },
    }, [
      el("span", { text: shortTime(ev.created_at) }),
      el("span", { class: "kind s-" + String(ev.type).split(".").pop(), text: ev.type }),
      el("span", { text: (ev.subject || "") + (status ? " → " + status : "") }),
    ]);
  }

  async function pollEvents() {
    const page = await api("GET", "/v1/events?limit=50");
    const events = (page && page.data) || [];
    const fresh = events.filter((e) => !state.seen.has(e.id));
    const first = state.seen.size === 0;
    const feed = $("feed");
    // Oldest first into the top of the list, so the newest ends on top.
    for (const ev of fresh.slice().reverse()) {
      state.seen.add(ev.id);
      feed.insertBefore(eventRow(ev, !first), feed.firstChild);
    }
    while (feed.children.length > 200) feed.removeChild(feed.lastChild);
    return fresh.length > 0;
  }

  // ---- operator view -------------------------------------------------------------------------

  async function showLists() {
    const [payments, auths] = await Promise.all([
      api("GET", "/v1/payments?limit=15"),
      api("GET", "/v1/authorizations?limit=10"),
    ]);
    const pbody = $("payments");
    clear(pbody);
    for (const p of payments.data || []) {
      pbody.append(el("tr", { data: { id: p.id }, on: { click: () => showPayment(p.id) } }, [
        el("td", { text: p.id }),
        el("td", { text: money(p.amount, p.currency) }),
        el("td", { class: "s-" + p.status, text: p.status + (p.needs_attention ? " ⚠" : "") }),
        el("td", { text: money(p.amount_refunded, p.currency) }),
        el("td", { text: shortTime(p.created_at) }),
      ]));
    }
    const abody = $("authorizations");
    clear(abody);
    for (const a of auths.data || []) {
      abody.append(el("tr", { data: { id: a.id }, on: { click: () => showAuthorization(a.id) } }, [
        el("td", { text: a.id }),
        el("td", { text: a.customer_id }),
        el("td", { class: "s-" + a.status, text: a.status }),
        el("td", { text: shortTime(a.created_at) }),
      ]));
    }
  }

  function fields(pairs) {
    const dl = $("detail-fields");
    clear(dl);
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "") continue;
      dl.append(el("dt", { text: k }), el("dd", { text: v }));
    }
  }

  function timeline(entries) {
    const ol = $("timeline");
    clear(ol);
    entries.sort((a, b) => String(a.at).localeCompare(String(b.at)));
    for (const t of entries) {
      ol.append(el("li", { on: t.open ? { click: t.open } : undefined }, [
        el("span", { text: shortTime(t.at) }),
        el("span", { class: "kind " + (t.status ? "s-" + t.status : ""), text: t.what }),
        el("span", { text: t.detail || "" }),
      ]));
    }
  }

  async function subjectEvents(id) {
    const page = await api("GET", "/v1/events?limit=100&subject=" + encodeURIComponent(id));
    return (page && page.data) || [];
  }

  async function deliveriesOf(events) {
    const body = $("deliveries");
    clear(body);
    const details = await Promise.all(events.slice(0, 10).map((e) => api("GET", "/v1/events/" + encodeURIComponent(e.id)).catch(() => null)));
    let any = false;
    for (const d of details) {
      if (!d) continue;
      for (const del of d.deliveries || []) {
        any = true;
        const last = (del.attempts || [])[del.attempts.length - 1];
        body.append(el("tr", {}, [
          el("td", { text: d.type + " " + d.id }),
          el("td", { text: del.endpoint }),
          el("td", { class: "s-" + del.status, text: del.status }),
          el("td", { text: (del.attempts || []).length }),
          el("td", { text: last ? (last.http_status || "no answer") + " " + (last.answer || "") : "" }),
        ]));
      }
    }
    if (!any) body.append(el("tr", {}, [el("td", { colspan: 5, text: "No webhook deliveries (no endpoint configured, or none yet)." })]));
  }

  function eventEntries(events) {
    // The API lists newest first; the timeline reads oldest first (a stable sort keeps ties so).
    return events.slice().reverse().map((e) => ({ at: e.created_at, what: e.type, status: String(e.type).split(".").pop(), detail: e.id, open: () => showEvent(e.id) }));
  }

  async function showPayment(id) {
    state.detail = { kind: "payment", id };
    const [p, events, refunds] = await Promise.all([
      api("GET", "/v1/payments/" + encodeURIComponent(id)),
      subjectEvents(id),
      api("GET", "/v1/payments/" + encodeURIComponent(id) + "/refunds?limit=100").catch(() => ({ data: [] })),
    ]);
    $("detail-id").textContent = p.id;
    fields([
      ["status", p.status], ["amount", money(p.amount, p.currency)], ["refunded", money(p.amount_refunded, p.currency)],
      ["reference", p.reference], ["authorization", p.authorization_id],
      ["failure", p.failure ? p.failure.code + ": " + p.failure.message : null],
      ["waiting for the user", p.next_action ? (p.next_action.url || p.next_action.applink_url || p.next_action.scheme_url) + " until " + p.next_action.expires_at : null],
      ["needs attention", p.needs_attention ? "yes" : null],
    ]);
    const entries = [{ at: p.created_at, what: "created", detail: money(p.amount, p.currency) }];
    for (const a of p.attempts || []) {
      entries.push({ at: a.created_at, what: "attempt " + a.status, status: a.status, detail: a.payment_request_id + (a.result_code ? " · " + a.result_code : "") });
    }
    for (const r of (refunds && refunds.data) || []) {
      entries.push({ at: r.created_at, what: "refund " + r.status, status: r.status, detail: r.id + " · " + money(r.amount, r.currency) });
    }
    for (const a of p.attention || []) {
      entries.push({ at: a.opened_at, what: "attention " + a.code, status: "unknown", detail: a.reason });
    }
    timeline(entries.concat(eventEntries(events)));
    await deliveriesOf(events);
  }

  async function showAuthorization(id) {
    state.detail = { kind: "authorization", id };
    const [a, events] = await Promise.all([api("GET", "/v1/authorizations/" + encodeURIComponent(id)), subjectEvents(id)]);
    $("detail-id").textContent = a.id;
    fields([
      ["status", a.status], ["customer", a.customer_id], ["wallet", a.wallet], ["user", a.user_login_id],
      ["revoked by", a.revoked_by], ["token expires", a.access_token_expires_at],
    ]);
    timeline([{ at: a.created_at, what: "created", detail: a.wallet + " · " + a.terminal_type }].concat(eventEntries(events)));
    await deliveriesOf(events);
  }

  async function showEvent(id) {
    state.detail = { kind: "event", id };
    const e = await api("GET", "/v1/events/" + encodeURIComponent(id));
    $("detail-id").textContent = e.id;
    const obj = (e.data && e.data.object) || {};
    fields([["type", e.type], ["at", e.created_at], ["subject", e.subject], ["detail", e.detail], ["subject status now", obj.status]]);
    timeline([{ at: e.created_at, what: e.type, detail: e.subject, open: e.subject && e.subject.startsWith("pay_") ? () => showPayment(e.subject) : e.subject && e.subject.startsWith("auth_") ? () => showAuthorization(e.subject) : undefined }]);
    await deliveriesOf([e]);
  }

  async function refreshDetail() {
    const d = state.detail;
    if (!d) return;
    if (d.kind === "payment") await showPayment(d.id);
    else if (d.kind === "authorization") await showAuthorization(d.id);
  }

  const ACTIONS = {
    inquire_now: (item) => item.subject_type === "order" && ["Inquire now", () => api("POST", "/v1/payments/" + encodeURIComponent(item.subject_id) + "/inquire")],
    retry_cancel: (item) => item.subject_type === "order" && ["Retry cancel", () => api("POST", "/v1/payments/" + encodeURIComponent(item.subject_id) + "/retry_cancel")],
    refund: (item) => item.subject_type === "order" && ["Refund the rest", async () => {
      const p = await api("GET", "/v1/payments/" + encodeURIComponent(item.subject_id));
      return api("POST", "/v1/payments/" + encodeURIComponent(item.subject_id) + "/refunds", { amount: p.amount - p.amount_refunded, reason: "refunded from the console: " + item.code });
    }],
    resolve: (item, reason) => ["Resolve", () => api("POST", "/v1/attention/" + encodeURIComponent(item.id) + "/resolve", { reason: reason.value.trim() || "resolved from the console" })],
  };

  async function showAttention() {
    const page = await api("GET", "/v1/attention?limit=50");
    const items = (page && page.data) || [];
    $("attention-count").textContent = items.length ? items.length + " open" : "nothing open";
    const ul = $("attention");
    clear(ul);
    for (const item of items) {
      const reason = el("input", { type: "text", placeholder: "reason (for resolve)", size: 28 });
      const buttons = [];
      for (const name of item.actions || []) {
        const make = ACTIONS[name];
        const found = make && make(item, reason);
        if (!found) continue;
        const [label, fn] = found;
        buttons.push(el("button", { type: "button", class: "small", data: { action: name }, text: label, on: { click: () => act(label, fn) } }));
      }
      ul.append(el("li", { data: { id: item.id } }, [
        el("div", {}, [el("strong", { text: item.code }), " ", el("span", { class: "muted", text: item.subject_type + " " + item.subject_id + " · " + shortTime(item.opened_at) })]),
        el("div", { text: item.reason }),
        el("div", { class: "muted", text: "Tried: " + item.tried }),
        el("div", { class: "actions" }, buttons.concat(item.actions && item.actions.includes("resolve") ? [reason] : [])),
      ]));
    }
  }

  // ---- QR codes (Scan to Bind): byte mode, error correction level M, mask 0 --------------------
  // Enough of ISO/IEC 18004 to draw a link or Alipay's codeValue: versions 1 to 40, no mask
  // search (any mask reads; the format bits name it).

  const QR_ECC_M = [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28];
  const QR_BLOCKS_M = [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49];

  function qrRawModules(ver) {
    let n = (16 * ver + 128) * ver + 64;
    if (ver >= 2) {
      const align = Math.floor(ver / 7) + 2;
      n -= (25 * align - 10) * align - 55;
      if (ver >= 7) n -= 36;
    }
    return n;
  }

  function qrDataCodewords(ver) {
    return Math.floor(qrRawModules(ver) / 8) - QR_ECC_M[ver] * QR_BLOCKS_M[ver];
  }

  function gfMul(x, y) {
    let z = 0;
    for (let i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z;
  }

  function rsDivisor(degree) {
    const out = new Array(degree).fill(0);
    out[degree - 1] = 1;
    let root = 1;
    for (let i = 0; i < degree; i++) {
      for (let j = 0; j < out.length; j++) {
        out[j] = gfMul(out[j], root);
        if (j + 1 < out.length) out[j] ^= out[j + 1];
      }
      root = gfMul(root, 0x02);
    }
    return out;
  }

  function rsRemainder(data, divisor) {
    const out = divisor.map(() => 0);
    for (const b of data) {
      const factor = b ^ out.shift();
      out.push(0);
      divisor.forEach((coef, i) => { out[i] ^= gfMul(coef, factor); });
    }
    return out;
  }

  // The modules (true: dark) of `text`'s QR code, or null when it is too long.
  function qrMatrix(text) {
    const bytes = Array.from(new TextEncoder().encode(text));
    let ver = 1;
    const fits = (v) => 4 + (v <= 9 ? 8 : 16) + 8 * bytes.length <= qrDataCodewords(v) * 8;
    while (ver <= 40 && !fits(ver)) ver++;
    if (ver > 40) return null;
    const bits = [];
    const put = (value, len) => { for (let i = len - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
    put(4, 4);
    put(bytes.length, ver <= 9 ? 8 : 16);
    for (const b of bytes) put(b, 8);
    const capacity = qrDataCodewords(ver) * 8;
    put(0, Math.min(4, capacity - bits.length));
    put(0, (8 - (bits.length % 8)) % 8);
    for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) put(pad, 8);
    const data = [];
    for (let i = 0; i < bits.length; i += 8) data.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));

    // Error correction, blocks interleaved.
    const numBlocks = QR_BLOCKS_M[ver];
    const eccLen = QR_ECC_M[ver];
    const raw = Math.floor(qrRawModules(ver) / 8);
    const numShort = numBlocks - (raw % numBlocks);
    const shortLen = Math.floor(raw / numBlocks);
    const divisor = rsDivisor(eccLen);
    const blocks = [];
    for (let i = 0, k = 0; i < numBlocks; i++) {
      const dat = data.slice(k, k + shortLen - eccLen + (i < numShort ? 0 : 1));
      k += dat.length;
      const ecc = rsRemainder(dat, divisor);
      if (i < numShort) dat.push(0);
      blocks.push(dat.concat(ecc));
    }
    const codewords = [];
    for (let i = 0; i < blocks[0].length; i++) {
      blocks.forEach((block, j) => {
        if (i !== shortLen - eccLen || j >= numShort) codewords.push(block[i]);
      });
    }

    // Function patterns.
    const size = ver * 4 + 17;
    const dark = Array.from({ length: size }, () => new Array(size).fill(false));
    const fixed = Array.from({ length: size }, () => new Array(size).fill(false));
    const set = (x, y, on) => { dark[y][x] = on; fixed[y][x] = true; };
    for (let i = 0; i < size; i++) {
      set(6, i, i % 2 === 0);
      set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const d = Math.max(Math.abs(dx), Math.abs(dy));
          const x = cx + dx;
          const y = cy + dy;
          if (x >= 0 && x < size && y >= 0 && y < size) set(x, y, d !== 2 && d !== 4);
        }
      }
    }
    if (ver > 1) {
      const n = Math.floor(ver / 7) + 2;
      const step = ver === 32 ? 26 : Math.ceil((ver * 4 + 4) / (n * 2 - 2)) * 2;
      const pos = [6];
      for (let p = size - 7; pos.length < n; p -= step) pos.splice(1, 0, p);
      pos.forEach((x, i) => pos.forEach((y, j) => {
        if ((i === 0 && j === 0) || (i === 0 && j === n - 1) || (i === n - 1 && j === 0)) return;
        for (let dy = -2; dy <= 2; dy++) {
          for (let dx = -2; dx <= 2; dx++) set(x + dx, y + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
        }
      }));
    }
    const bit = (v, i) => ((v >>> i) & 1) !== 0;
    // Format: level M (00), mask 0.
    let rem = 0;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const format = ((0 << 10) | rem) ^ 0x5412;
    for (let i = 0; i <= 5; i++) set(8, i, bit(format, i));
    set(8, 7, bit(format, 6));
    set(8, 8, bit(format, 7));
    set(7, 8, bit(format, 8));
    for (let i = 9; i < 15; i++) set(14 - i, 8, bit(format, i));
    for (let i = 0; i < 8; i++) set(size - 1 - i, 8, bit(format, i));
    for (let i = 8; i < 15; i++) set(8, size - 15 + i, bit(format, i));
    set(8, size - 8, true);
    if (ver >= 7) {
      let r = ver;
      for (let i = 0; i < 12; i++) r = (r << 1) ^ ((r >>> 11) * 0x1f25);
      const v = (ver << 12) | r;
      for (let i = 0; i < 18; i++) {
        const a = size - 11 + (i % 3);
        const b = Math.floor(i / 3);
        set(a, b, bit(v, i));
        set(b, a, bit(v, i));
      }
    }

    // Data, in the zigzag, then mask 0 over what is not a function pattern.
    let i = 0;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let vert = 0; vert < size; vert++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          const y = ((right + 1) & 2) === 0 ? size - 1 - vert : vert;
          if (!fixed[y][x] && i < codewords.length * 8) {
            dark[y][x] = bit(codewords[i >>> 3], 7 - (i & 7));
            i++;
          }
        }
      }
    }
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (!fixed[y][x] && (x + y) % 2 === 0) dark[y][x] = !dark[y][x];
      }
    }
    return dark;
  }

  // ---- charts (inline SVG) -------------------------------------------------------------------

  const COLORS = { succeeded: "#1f8a4c", failed: "#c0392b", cancelled: "#8a949e", unknown: "#d68910", processing: "#2e6fd8" };
  const OUTCOMES = ["succeeded", "failed", "cancelled", "unknown", "processing"];

  function axes(node, w, h, max, label) {
    node.append(svg("line", { x1: 30, y1: h - 18, x2: w - 4, y2: h - 18, stroke: "#c9d1d9" }));
    node.append(svg("text", { x: 2, y: 10 }, label(max)));
    node.append(svg("text", { x: 2, y: h - 18 }, label(0)));
  }

  function hourLabels(node, hours, w, h) {
    const step = (w - 34) / Math.max(hours.length, 1);
    hours.forEach((hour, i) => {
      const t = String(hour.start).slice(11, 16);
      node.append(svg("text", { x: 32 + i * step + step / 2 - 10, y: h - 5 }, t));
    });
    return step;
  }

  function drawOutcomes(hours) {
    const node = $("chart-outcomes");
    clear(node);
    const { width: w, height: h } = node.viewBox.baseVal;
    const max = Math.max(1, ...hours.map((x) => x.created));
    axes(node, w, h, max, (v) => String(v));
    const step = hourLabels(node, hours, w, h);
    hours.forEach((hour, i) => {
      let y = h - 18;
      for (const k of OUTCOMES) {
        const n = hour[k] || 0;
        if (!n) continue;
        const bh = (n / max) * (h - 30);
        y -= bh;
        const rect = svg("rect", { x: 34 + i * step, y, width: Math.max(step - 6, 2), height: bh, fill: COLORS[k], "data-outcome": k, "data-count": n });
        rect.append(svg("title", {}, hour.start + ": " + n + " " + k));
        node.append(rect);
      }
    });
    const legend = $("legend-outcomes");
    clear(legend);
    for (const k of OUTCOMES) {
      const total = hours.reduce((s, x) => s + (x[k] || 0), 0);
      legend.append(el("span", { class: "c-" + k, data: { outcome: k }, text: k + " " + total }));
    }
  }

  function drawUnknown(hours) {
    const node = $("chart-unknown");
    clear(node);
    const { width: w, height: h } = node.viewBox.baseVal;
    axes(node, w, h, 100, (v) => v + "%");
    const step = hourLabels(node, hours, w, h);
    hours.forEach((hour, i) => {
      if (!hour.created) return;
      // Per mille in integers, shown as a percentage with one decimal.
      const permille = Math.round((hour.ever_unknown * 1000) / hour.created);
      const bh = (permille / 1000) * (h - 30);
      const rect = svg("rect", { x: 34 + i * step, y: h - 18 - bh, width: Math.max(step - 6, 2), height: Math.max(bh, 1), fill: COLORS.unknown });
      rect.append(svg("title", {}, hour.start + ": " + hour.ever_unknown + " of " + hour.created));
      node.append(rect);
      node.append(svg("text", { x: 34 + i * step, y: h - 21 - bh }, (permille / 10).toFixed(1) + "%"));
    });
  }

  function drawResolve(hours) {
    const node = $("chart-resolve");
    clear(node);
    const { width: w, height: h } = node.viewBox.baseVal;
    const max = Math.max(1, ...hours.map((x) => x.resolve_p95_ms || 0));
    const secs = (ms) => (ms >= 10000 ? Math.round(ms / 1000) + " s" : ms >= 1000 ? (ms / 1000).toFixed(1) + " s" : ms + " ms");
    axes(node, w, h, max, secs);
    const step = hourLabels(node, hours, w, h);
    const bw = Math.max((step - 8) / 2, 2);
    hours.forEach((hour, i) => {
      [["resolve_p50_ms", "#2e6fd8"], ["resolve_p95_ms", "#9bb9ea"]].forEach(([k, color], j) => {
        const v = hour[k];
        if (v === null || v === undefined) return;
        const bh = Math.max((v / max) * (h - 30), 1);
        const rect = svg("rect", { x: 34 + i * step + j * (bw + 1), y: h - 18 - bh, width: bw, height: bh, fill: color });
        rect.append(svg("title", {}, hour.start + " " + k.replace("resolve_", "").replace("_ms", "") + ": " + secs(v) + " over " + hour.resolved));
        node.append(rect);
      });
    });
  }

  async function showStats() {
    const stats = await api("GET", "/v1/stats?hours=6");
    const hours = (stats && stats.hours) || [];
    $("chart-hours").textContent = String(hours.length);
    drawOutcomes(hours);
    drawUnknown(hours);
    drawResolve(hours);
  }

  // ---- the loop ------------------------------------------------------------------------------

  async function refresh(force) {
    if (!state.key) return;
    const changed = await pollEvents();
    // States change without an event too (a payment whose outcome became unknown): every 5 s
    // the shown resources are read again anyway.
    if (changed || force || Date.now() - state.lastViews > 5000) {
      state.lastViews = Date.now();
      const work = [showLists(), showAttention(), refreshDetail()];
      if (state.sandbox) work.push(showSandbox());
      await Promise.all(work);
    }
    if (changed || force || Date.now() - state.lastStats > 10000) {
      state.lastStats = Date.now();
      await showStats();
    }
  }

  async function tick() {
    if (state.polling || !state.key) return;
    state.polling = true;
    try {
      await refresh(false);
      $("feed-note").textContent = "polled every second · " + new Date().toLocaleTimeString();
    } catch (e) {
      if (state.key) say("Polling: " + e.message, true);
    } finally {
      state.polling = false;
    }
  }

  async function start() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("forget").hidden = false;
    // Coming back from the wallet: the return page added the authorization and its status.
    const query = new URLSearchParams(location.search);
    if (query.get("authorization_id")) {
      sessionStorage.setItem(AUTH, query.get("authorization_id"));
      say("Back from the wallet: " + (query.get("status") || "unknown"));
      history.replaceState(null, "", location.pathname);
    }
    try {
      state.sandbox = await api("GET", "/v1/sandbox");
    } catch (e) {
      if (e.status === 401) return;
      state.sandbox = null;
    }
    $("mode").textContent = state.sandbox ? "sandbox mode" : "live";
    $("mode").className = state.sandbox ? "badge sandbox" : "badge";
    $("sandbox").hidden = !state.sandbox;
    if (state.sandbox) setText("sb-user", state.sandbox.demo_user || "(none)");
    await refresh(true).catch((e) => say(e.message, true));
    if (!state.timer) state.timer = setInterval(tick, 1000);
  }

  function init() {
    $("key-save").addEventListener("click", () => {
      const key = $("key-input").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      $("key-input").value = "";
      state.key = key;
      start();
    });
    $("key-input").addEventListener("keydown", (e) => { if (e.key === "Enter") $("key-save").click(); });
    $("forget").addEventListener("click", () => showLogin("Key forgotten."));
    $("bind").addEventListener("click", bind);
    $("bind-qr").addEventListener("click", bindQr);
    $("charge").addEventListener("click", charge);
    $("refund").addEventListener("click", refund);
    $("cancel").addEventListener("click", cancel);
    $("revoke").addEventListener("click", revoke);
    $("inject").addEventListener("click", inject);
    $("clear-faults").addEventListener("click", clearFaults);
    state.key = readKey();
    if (state.key) start();
    else showLogin("");
  }

  init();
})();

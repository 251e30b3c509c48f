"""Customs declaration and secondary-merchant registration with the official global-open-sdk-python
against ams-sandbox: the SDK's own request classes for declare, inquiryDeclarationRequests,
registration, inquiryRegistrationStatus and inquiryRegistrationInfo.

It reuses ``sdk_journey.py`` (beside it): importing it swaps the SDK's transport for plain HTTP to
loopback (signing, the ``SANDBOX_`` path rewrite and response verification stay the SDK's own, so an
answer the SDK cannot verify makes ``execute`` raise and this script exit non-zero), and its
``Journey`` binds the user and pays first (consult → consent page → applyToken → pay), because a
declaration needs a paid payment. The sandbox's clock is moved through its control API
(``POST /sandbox/clock``), as a test in another language would.

Reads one JSON object on stdin: the journey's keys (``gateway_url``, ``client_id``, the keys,
``user``, ``auth_redirect_url``, ``auth_state``, ``currency``, ``payment``) and

  {"control_url": "http://127.0.0.1:<port>",
   "declarations": {"accepted": "...", "rejected": "...", "unknown": "..."},
   "registration": {"request_id": "...", "reference_merchant_id": "...", "notify_url": "http://...",
                    "pass_through_info": "...", "unknown_merchant": "..."}}

Writes one JSON line per step on stdout, as ``sdk_journey.py`` does: {"step": "sdk", ...} first;
for each SDK call {"step", "url", "response" (the raw body, parsed), "sdk_result" (the result as
the SDK's response class read it), "sdk_fields" (what that class read besides), "sdk_class_error"
(when the class raised on the body)}; for each clock move {"step": "clock", ...}. On any error:
{"step": <step>, "error": ...}, the traceback on stderr, exit status 1.
"""

import http.client
import json
import sys
import traceback
import urllib.parse
from importlib.metadata import version

from sdk_journey import SENT_URLS, Journey, emit

from com.alipay.ams.api.model.address import Address
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.certificate import Certificate
from com.alipay.ams.api.model.certificate_type import CertificateType
from com.alipay.ams.api.model.contact_info import ContactInfo
from com.alipay.ams.api.model.customs_info import CustomsInfo
from com.alipay.ams.api.model.logo import Logo
from com.alipay.ams.api.model.merchant_customs_info import MerchantCustomsInfo
from com.alipay.ams.api.model.merchant_registration_info import MerchantRegistrationInfo
from com.alipay.ams.api.model.product_code_type import ProductCodeType
from com.alipay.ams.api.model.registration_detail import RegistrationDetail
from com.alipay.ams.api.model.user_name import UserName
from com.alipay.ams.api.model.web_site import WebSite
from com.alipay.ams.api.request.declare.alipay_customs_declare_request import (
    AlipayCustomsDeclareRequest,
)
from com.alipay.ams.api.request.declare.alipay_customs_query_request import (
    AlipayCustomsQueryRequest,
)
from com.alipay.ams.api.request.merchant.alipay_merchant_registration_info_query_request import (
    AlipayMerchantRegistrationInfoQueryRequest,
)
from com.alipay.ams.api.request.merchant.alipay_merchant_registration_request import (
    AlipayMerchantRegistrationRequest,
)
from com.alipay.ams.api.request.merchant.alipay_merchant_registration_status_query_request import (
    AlipayMerchantRegistrationStatusQueryRequest,
)
from com.alipay.ams.api.response.declare.alipay_customs_declare_response import (
    AlipayCustomsDeclareResponse,
)
from com.alipay.ams.api.response.declare.alipay_customs_query_response import (
    AlipayCustomsQueryResponse,
)
from com.alipay.ams.api.response.merchant.alipay_merchant_registration_info_query_response import (
    AlipayMerchantRegistrationInfoQueryResponse,
)
from com.alipay.ams.api.response.merchant.alipay_merchant_registration_response import (
    AlipayMerchantRegistrationResponse,
)
from com.alipay.ams.api.response.merchant.alipay_merchant_registration_status_query_response import (
    AlipayMerchantRegistrationStatusQueryResponse,
)
from com.alipay.ams.api.tools.constants import DEFAULT_TIMEOUT


def enum_value(value):
    return value.value if hasattr(value, "value") else value


class Addendum(Journey):
    """The journey's binding and payment, then the addendum's APIs."""

    def sdk_call(self, step, request, response_class, read):
        """One SDK call: execute (signs, rewrites the path, verifies), then read it with the SDK's
        response class; `read` picks what that class read besides `result`."""
        self.step = step
        already_sent = len(SENT_URLS)
        body = self.client.execute(request)
        if len(SENT_URLS) != already_sent + 1:
            raise RuntimeError("expected exactly one request for %s, sent %r" % (step, SENT_URLS))
        line = {"step": step, "url": SENT_URLS[-1], "response": json.loads(body)}
        try:
            parsed = response_class(body)
            result = parsed.result
            line["sdk_result"] = {
                "resultCode": result.result_code if result else None,
                "resultStatus": enum_value(result.result_status)
                if result and result.result_status
                else None,
            }
            line["sdk_fields"] = read(parsed)
        except Exception as error:  # the SDK's response class, not the call, failed
            line["sdk_class_error"] = "%s: %s" % (type(error).__name__, error)
        emit(line)
        return line["response"]

    def advance_clock(self, ms):
        """POST /sandbox/clock {"advance_ms": ms} on the sandbox's control API."""
        self.step = "clock"
        control = urllib.parse.urlsplit(self.config["control_url"])
        connection = http.client.HTTPConnection(
            control.hostname, control.port, timeout=DEFAULT_TIMEOUT
        )
        connection.request(
            "POST",
            "/sandbox/clock",
            body=json.dumps({"advance_ms": ms}),
            headers={"Content-Type": "application/json"},
        )
        answer = connection.getresponse()
        view = json.loads(answer.read().decode("utf-8"))
        connection.close()
        if answer.status != 200:
            raise RuntimeError("POST /sandbox/clock: HTTP %d %r" % (answer.status, view))
        emit({"step": "clock", "advanced_ms": ms, "now": view["now"]})

    def declare_request(self, declaration_id, payment_id, value, customs_code):
        request = AlipayCustomsDeclareRequest()
        request.declaration_request_id = declaration_id
        request.payment_id = payment_id
        request.declaration_amount = Amount(self.config["currency"], value)
        customs = CustomsInfo()
        customs.customs_code = customs_code
        customs.region = "CN"
        request.customs = customs
        merchant_customs = MerchantCustomsInfo()
        merchant_customs.merchant_customs_code = "demo_code"
        merchant_customs.merchant_customs_name = "demo_name"
        request.merchant_customs_info = merchant_customs
        # The SDK drops splitOrder=False from the body: the sandbox must read a missing one as false.
        request.split_order = False
        certificate = Certificate()
        certificate.certificate_type = CertificateType.ID_CARD
        certificate.certificate_no = "110101199001011234"
        holder = UserName()
        holder.first_name = "F"
        holder.last_name = "L"
        holder.full_name = "F L"
        certificate.holder_name = holder
        request.buyer_certificate = certificate
        return request

    def declare(self, step, request):
        return self.sdk_call(
            step,
            request,
            AlipayCustomsDeclareResponse,
            lambda r: {
                "customsPaymentId": r.customs_payment_id,
                "customsOrderId": r.customs_order_id,
                "identityCheckResult": enum_value(r.identity_check_result),
                "clearingChannel": enum_value(r.clearing_channel),
                "customsProviderRegistrationId": r.customs_provider_registration_id,
            },
        )

    def inquire_declarations(self, step, ids):
        request = AlipayCustomsQueryRequest()
        request.declaration_request_ids = ids
        return self.sdk_call(
            step,
            request,
            AlipayCustomsQueryResponse,
            lambda r: {"declarationRequestsNotFound": r.declaration_requests_not_found},
        )

    def registration_request(self):
        config = self.config["registration"]
        request = AlipayMerchantRegistrationRequest()
        request.registration_request_id = config["request_id"]
        request.registration_notify_url = config["notify_url"]
        request.product_codes = [ProductCodeType.AGREEMENT_PAYMENT]
        request.pass_through_info = config["pass_through_info"]
        info = MerchantRegistrationInfo()
        info.reference_merchant_id = config["reference_merchant_id"]
        info.merchant_display_name = "SDK Shop"
        info.merchant_mcc = "5812"
        logo = Logo()
        logo.logo_name = "SDK Shop"
        logo.logo_url = "https://merchant.example/logo.png"
        info.logo = logo
        site = WebSite()
        site.name = "shop"
        site.url = "https://merchant.example"
        site.desc = "the shop"
        info.websites = [site]
        address = Address()
        address.region = "HK"
        address.city = "Hong Kong"
        address.address1 = "1 Road"
        info.merchant_address = address
        detail = RegistrationDetail()
        detail.legal_name = "SDK Shop Ltd"
        contact = ContactInfo()
        contact.contact_no = "shop@merchant.example"
        contact.contact_type = "EMAIL"
        detail.contact_info = [contact]
        detail.registration_type = "ENTERPRISE_REGISTRATION_NO"
        detail.registration_no = "12345"
        detail.business_type = "ENTERPRISE"
        detail.registration_effective_date = "2020-01-01T12:08:55+08:00"
        info.registration_detail = detail
        request.merchant_info = info
        return request

    def register(self, step, request):
        return self.sdk_call(
            step,
            request,
            AlipayMerchantRegistrationResponse,
            lambda r: {"passThroughInfo": r.pass_through_info},
        )

    def registration_status(self, step, registration_request_id=None, reference_merchant_id=None):
        request = AlipayMerchantRegistrationStatusQueryRequest()
        request.registration_request_id = registration_request_id
        request.reference_merchant_id = reference_merchant_id
        return self.sdk_call(
            step,
            request,
            AlipayMerchantRegistrationStatusQueryResponse,
            lambda r: {
                "registrationResult": r.registration_result,
                "pspRegistrationResultList": r.psp_registration_result_list,
            },
        )

    def registration_info(self, step, reference_merchant_id):
        request = AlipayMerchantRegistrationInfoQueryRequest()
        request.reference_merchant_id = reference_merchant_id
        return self.sdk_call(
            step,
            request,
            AlipayMerchantRegistrationInfoQueryResponse,
            lambda r: {"merchantInfo": r.merchant_info, "productCodes": r.product_codes},
        )

    def run(self):
        consult = self.consult()
        auth_code = self.consent(consult["normalUrl"])
        access_token = self.apply_token(auth_code)["accessToken"]
        payment_id = self.pay("pay", self.config["payment"], access_token)["paymentId"]

        # Customs: two declarations of the payment at two offices, 60 % and 40 %.
        total = int(self.config["payment"]["value"])
        ids = self.config["declarations"]
        accepted = self.declare_request(ids["accepted"], payment_id, str(total * 6 // 10), "ZONGSHU")
        self.declare("declare", accepted)
        rejected = self.declare_request(
            ids["rejected"], payment_id, str(total - total * 6 // 10), "SHANGHAI_CBT"
        )
        self.declare("declare2", rejected)
        every_id = [ids["accepted"], ids["rejected"], ids["unknown"]]
        self.inquire_declarations("inquiryDeclarationRequests", every_id)
        self.advance_clock(60_000)
        self.inquire_declarations("inquiryDeclarationRequests2", every_id)
        # The same request again: the same answer, now with customs' clearing fields.
        self.declare("declareAgain", accepted)

        # Registration: accepted, pending, reviewed a minute later.
        config = self.config["registration"]
        registration = self.registration_request()
        self.register("registration", registration)
        self.register("registrationAgain", registration)
        self.registration_status("inquiryRegistrationStatus", config["request_id"])
        self.advance_clock(60_000)
        self.registration_status("inquiryRegistrationStatus2", config["request_id"])
        self.registration_status(
            "inquiryRegistrationStatusByMerchant",
            reference_merchant_id=config["reference_merchant_id"],
        )
        self.registration_info("inquiryRegistrationInfo", config["reference_merchant_id"])
        self.registration_info("inquiryRegistrationInfoUnknown", config["unknown_merchant"])


def main():
    emit({"step": "sdk", "version": version("global-open-sdk-python")})
    addendum = None
    try:
        addendum = Addendum(json.load(sys.stdin))
        addendum.run()
    except Exception as error:
        step = addendum.step if addendum else "setup"
        emit({"step": step, "error": "%s: %s" % (type(error).__name__, error)})
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()

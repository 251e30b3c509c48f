"""Walks a whole Auto Debit journey with the official global-open-sdk-python against ams-sandbox.

Only the transport is replaced: ``com.alipay.ams.api.default_alipay_client.do_post`` (the name
``DefaultAlipayClient.execute`` calls) becomes a function that sends the SDK's exact method,
absolute-form URL, headers and body over plain HTTP to the URL's own host and port, instead of
HTTPS on port 443, and returns ``(response.getheaders(), response.read())`` as the original does.
Signing, the ``SANDBOX_`` path rewrite and response verification are the SDK's own code, so a
response the SDK cannot verify makes ``execute`` raise and this script exit non-zero.

Reads one JSON object on stdin:

  {"gateway_url": "http://127.0.0.1:<port>", "client_id": "SANDBOX_...",
   "merchant_private_key": "<PKCS#8 base64>", "alipay_public_key": "<SPKI base64>",
   "user": "<wallet login>", "auth_redirect_url": "https://...", "auth_state": "...",
   "currency": "USD",
   "payment": {"request_id": "...", "value": "2500"},
   "refund": {"request_id": "...", "value": "1000"},
   "cancelled_payment": {"request_id": "...", "value": "1200"}}

Writes one JSON line per step on stdout: {"step": "sdk", "version": ...} first, then for each SDK
call {"step": <api>, "url": <URL the SDK posted to>, "response": <the response body, parsed>,
"sdk_result": <result as the SDK's response class read it>}, and for the consent page
{"step": "consent", "page_status": ..., "status": ..., "location": ...}. On any error it writes
{"step": <step>, "error": ...}, prints the traceback on stderr and exits with status 1.
"""

import http.client
import json
import sys
import traceback
import urllib.parse
from importlib.metadata import version

import com.alipay.ams.api.default_alipay_client as default_alipay_client
from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
from com.alipay.ams.api.exception.exception import AlipayApiException
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.customer_belongs_to import CustomerBelongsTo
from com.alipay.ams.api.model.env import Env
from com.alipay.ams.api.model.grant_type import GrantType
from com.alipay.ams.api.model.order import Order
from com.alipay.ams.api.model.payment_method import PaymentMethod
from com.alipay.ams.api.model.product_code_type import ProductCodeType
from com.alipay.ams.api.model.scope_type import ScopeType
from com.alipay.ams.api.model.settlement_strategy import SettlementStrategy
from com.alipay.ams.api.model.terminal_type import TerminalType
from com.alipay.ams.api.request.auth.alipay_auth_apply_token_request import (
    AlipayAuthApplyTokenRequest,
)
from com.alipay.ams.api.request.auth.alipay_auth_consult_request import (
    AlipayAuthConsultRequest,
)
from com.alipay.ams.api.request.auth.alipay_auth_revoke_token_request import (
    AlipayAuthRevokeTokenRequest,
)
from com.alipay.ams.api.request.pay.alipay_inquiry_refund_request import (
    AlipayInquiryRefundRequest,
)
from com.alipay.ams.api.request.pay.alipay_pay_cancel_request import AlipayPayCancelRequest
from com.alipay.ams.api.request.pay.alipay_pay_query_request import AlipayPayQueryRequest
from com.alipay.ams.api.request.pay.alipay_pay_request import AlipayPayRequest
from com.alipay.ams.api.request.pay.alipay_refund_request import AlipayRefundRequest
from com.alipay.ams.api.response.auth.alipay_auth_apply_token_response import (
    AlipayAuthApplyTokenResponse,
)
from com.alipay.ams.api.response.auth.alipay_auth_consult_response import (
    AlipayAuthConsultResponse,
)
from com.alipay.ams.api.response.auth.alipay_auth_revoke_token_response import (
    AlipayAuthRevokeTokenResponse,
)
from com.alipay.ams.api.response.pay.alipay_inquiry_refund_response import (
    AlipayInquiryRefundResponse,
)
from com.alipay.ams.api.response.pay.alipay_pay_cancel_response import AlipayPayCancelResponse
from com.alipay.ams.api.response.pay.alipay_pay_query_response import AlipayPayQueryResponse
from com.alipay.ams.api.response.pay.alipay_pay_response import AlipayPayResponse
from com.alipay.ams.api.response.pay.alipay_refund_response import AlipayRefundResponse
from com.alipay.ams.api.tools.constants import DEFAULT_CHARSET, DEFAULT_TIMEOUT

# Every URL the SDK handed to do_post, in order.
SENT_URLS = []


def plain_http_post(url, headers=None, req_body=None, charset=DEFAULT_CHARSET):
    """The original do_post, but plain HTTP to the URL's host and port instead of HTTPS on 443."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(
        host=parsed.hostname, port=parsed.port, timeout=DEFAULT_TIMEOUT
    )
    try:
        connection.connect()
    except Exception as e:
        raise AlipayApiException("connect failed. " + str(e))

    try:
        # The full URL, as the original passes it: the request line is in absolute form.
        connection.request("POST", url, body=req_body.encode(charset), headers=headers)
    except Exception as e:
        raise AlipayApiException("request failed. " + str(e))
    SENT_URLS.append(url)

    response = connection.getresponse()
    if response.status != 200:
        raise AlipayApiException("invalid http status " + str(response.status))
    response_headers = response.getheaders()
    result = response.read()
    try:
        response.close()
        connection.close()
    except Exception as e:
        raise AlipayApiException("close failed. " + str(e))

    return response_headers, result


default_alipay_client.do_post = plain_http_post


def emit(line):
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class Journey:
    """The steps, in order; `step` names the one running, for the error line."""

    def __init__(self, config):
        self.config = config
        self.step = "setup"
        self.client = DefaultAlipayClient(
            config["gateway_url"],
            config["client_id"],
            config["merchant_private_key"],
            config["alipay_public_key"],
        )

    def call(self, step, request, response_class):
        """One SDK call: execute (which signs, rewrites the path and verifies), then read it."""
        self.step = step
        already_sent = len(SENT_URLS)
        body = self.client.execute(request)
        if len(SENT_URLS) != already_sent + 1:
            raise RuntimeError("expected exactly one request for %s, sent %r" % (step, SENT_URLS))
        result = response_class(body).result
        emit(
            {
                "step": step,
                "url": SENT_URLS[-1],
                "response": json.loads(body),
                "sdk_result": {
                    "resultCode": result.result_code if result else None,
                    "resultStatus": result.result_status.value
                    if result and result.result_status
                    else None,
                },
            }
        )
        return json.loads(body)

    def amount(self, value):
        return Amount(self.config["currency"], value)

    def consult(self):
        request = AlipayAuthConsultRequest()
        request.customer_belongs_to = CustomerBelongsTo.ALIPAY_CN
        request.terminal_type = TerminalType.WEB
        request.scopes = [ScopeType.AGREEMENT_PAY]
        request.auth_redirect_url = self.config["auth_redirect_url"]
        request.auth_state = self.config["auth_state"]
        return self.call("consult", request, AlipayAuthConsultResponse)

    def consent(self, normal_url):
        """The user opens the wallet page and agrees, as a browser would; the redirect is not followed."""
        self.step = "consent"
        page = urllib.parse.urlsplit(normal_url)
        target = page.path + ("?" + page.query if page.query else "")
        connection = http.client.HTTPConnection(page.hostname, page.port, timeout=DEFAULT_TIMEOUT)
        connection.request("GET", target)
        shown = connection.getresponse()
        html = shown.read().decode("utf-8")
        connection.close()
        if shown.status != 200 or '<form method="post"' not in html:
            raise RuntimeError("consent page: HTTP %d\n%s" % (shown.status, html))
        form = urllib.parse.urlencode({"decision": "agree", "user": self.config["user"]})
        connection = http.client.HTTPConnection(page.hostname, page.port, timeout=DEFAULT_TIMEOUT)
        connection.request(
            "POST",
            target,
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        decided = connection.getresponse()
        decided.read()
        connection.close()
        location = decided.getheader("Location")
        emit(
            {
                "step": "consent",
                "page_status": shown.status,
                "status": decided.status,
                "location": location,
            }
        )
        if location is None:
            raise RuntimeError("consent: HTTP %d without Location" % decided.status)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        return query["authCode"][0]

    def apply_token(self, auth_code):
        request = AlipayAuthApplyTokenRequest()
        request.grant_type = GrantType.AUTHORIZATION_CODE
        request.customer_belongs_to = CustomerBelongsTo.ALIPAY_CN
        request.auth_code = auth_code
        return self.call("applyToken", request, AlipayAuthApplyTokenResponse)

    def pay(self, step, payment, access_token):
        request = AlipayPayRequest()
        request.product_code = ProductCodeType.AGREEMENT_PAYMENT
        request.payment_request_id = payment["request_id"]
        order = Order()
        order.reference_order_id = "order-" + payment["request_id"]
        order.order_description = "SDK journey subscription"
        order.order_amount = self.amount(payment["value"])
        request.order = order
        request.payment_amount = self.amount(payment["value"])
        method = PaymentMethod()
        method.payment_method_type = CustomerBelongsTo.ALIPAY_CN.value
        method.payment_method_id = access_token
        request.payment_method = method
        env = Env()
        env.terminal_type = TerminalType.WEB
        request.env = env
        settlement = SettlementStrategy()
        settlement.settlement_currency = self.config["currency"]
        request.settlement_strategy = settlement
        return self.call(step, request, AlipayPayResponse)

    def inquiry_payment(self, payment_request_id):
        request = AlipayPayQueryRequest()
        request.payment_request_id = payment_request_id
        return self.call("inquiryPayment", request, AlipayPayQueryResponse)

    def refund(self, payment_id):
        request = AlipayRefundRequest()
        request.refund_request_id = self.config["refund"]["request_id"]
        request.payment_id = payment_id
        request.refund_amount = self.amount(self.config["refund"]["value"])
        return self.call("refund", request, AlipayRefundResponse)

    def inquiry_refund(self):
        request = AlipayInquiryRefundRequest()
        request.refund_request_id = self.config["refund"]["request_id"]
        return self.call("inquiryRefund", request, AlipayInquiryRefundResponse)

    def cancel(self, payment_request_id):
        request = AlipayPayCancelRequest()
        request.payment_request_id = payment_request_id
        return self.call("cancel", request, AlipayPayCancelResponse)

    def browser(self, method, url, body=None, headers=None):
        """One request to the sandbox itself (a page, or its control API), not through the SDK."""
        page = urllib.parse.urlsplit(url)
        target = page.path + ("?" + page.query if page.query else "")
        connection = http.client.HTTPConnection(page.hostname, page.port, timeout=DEFAULT_TIMEOUT)
        connection.request(method, target, body=body, headers=headers or {})
        answer = connection.getresponse()
        text = answer.read().decode("utf-8")
        connection.close()
        return answer.status, answer.getheader("Location"), text

    def needs_user(self, sandbox_url, access_token):
        """The wallet now needs the user for a payment: the SDK's own response class reads where to
        send them (PAYMENT_IN_PROCESS with normalUrl), the user pays there, and the inquiry finds it paid."""
        self.step = "needs_user"
        user = urllib.parse.quote(self.config["user"])
        status, _, text = self.browser(
            "PATCH",
            urllib.parse.urljoin(sandbox_url, "/sandbox/users/" + user),
            body=json.dumps({"payment_mode": "needs_user"}),
            headers={"Content-Type": "application/json"},
        )
        if status != 200:
            raise RuntimeError("sandbox control API: HTTP %d\n%s" % (status, text))
        payment = self.config["wallet_payment"]
        body = self.pay("pay3", payment, access_token)
        parsed = AlipayPayResponse(json.dumps(body))
        emit(
            {
                "step": "pay3_sdk",
                "resultCode": parsed.result.result_code,
                "normalUrl": parsed.normal_url,
                "schemeUrl": parsed.scheme_url,
                "applinkUrl": parsed.applink_url,
                "appIdentifier": parsed.app_identifier,
            }
        )
        self.step = "wallet"
        status, location, text = self.browser(
            "POST",
            parsed.normal_url,
            body=urllib.parse.urlencode({"decision": "pay"}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        emit({"step": "wallet", "status": status, "location": location})
        request = AlipayPayQueryRequest()
        request.payment_request_id = payment["request_id"]
        self.call("inquiryPayment3", request, AlipayPayQueryResponse)

    def revoke(self, access_token):
        request = AlipayAuthRevokeTokenRequest()
        request.access_token = access_token
        return self.call("revoke", request, AlipayAuthRevokeTokenResponse)

    def run(self):
        consult = self.consult()
        auth_code = self.consent(consult["normalUrl"])
        access_token = self.apply_token(auth_code)["accessToken"]
        payment = self.pay("pay", self.config["payment"], access_token)
        self.inquiry_payment(self.config["payment"]["request_id"])
        self.refund(payment["paymentId"])
        self.inquiry_refund()
        cancelled = self.config["cancelled_payment"]
        self.pay("pay2", cancelled, access_token)
        self.cancel(cancelled["request_id"])
        self.needs_user(consult["normalUrl"], access_token)
        self.revoke(access_token)


def main():
    emit({"step": "sdk", "version": version("global-open-sdk-python")})
    journey = None
    try:
        journey = Journey(json.load(sys.stdin))
        journey.run()
    except Exception as error:
        step = journey.step if journey else "setup"
        emit({"step": step, "error": "%s: %s" % (type(error).__name__, error)})
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()

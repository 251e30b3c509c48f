"""Answers signing questions with the official global-open-sdk-python, untouched.

Reads one JSON request per line on stdin and writes one JSON answer per line on stdout:

  {"op": "sign", "path": ..., "client_id": ..., "time": ..., "body": ..., "private_key": ...}
      -> {"signature": "<url-encoded base64, as the SDK returns it>"}
  {"op": "verify", "path": ..., "client_id": ..., "time": ..., "body": ..., "signature": ..., "public_key": ...}
      -> {"valid": true | false, "error": "..."}
  {"op": "check_notification", ... same as verify, with "signature" the whole header}
      -> {"valid": true | false, "error": "..."}

The SDK's verify raises on a bad signature (rsa.pkcs1.VerificationError); that is reported as
valid=false with the exception text.
"""

import json
import sys

from com.alipay.ams.api.tools import signature_tool, webhook_tool


def answer(request):
    op = request["op"]
    if op == "version":
        from importlib.metadata import version

        return {"version": version("global-open-sdk-python")}
    if op == "sign":
        signature = signature_tool.sign(
            "POST",
            request["path"],
            request["client_id"],
            request["time"],
            request["body"],
            request["private_key"],
        )
        return {"signature": signature}
    if op in ("verify", "check_notification"):
        function = signature_tool.verify if op == "verify" else webhook_tool.check_signature
        try:
            valid = function(
                "POST",
                request["path"],
                request["client_id"],
                request["time"],
                request["body"],
                request["signature"],
                request["public_key"],
            )
            return {"valid": bool(valid)}
        except Exception as error:  # the SDK raises instead of returning False
            return {"valid": False, "error": "%s: %s" % (type(error).__name__, error)}
    raise ValueError("unknown op %r" % op)


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = answer(json.loads(line))
        except Exception as error:
            result = {"fatal": "%s: %s" % (type(error).__name__, error)}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

-- autodebit-store schema 10 (postgres): when the wallet needs its user before it can finish a payment.
-- `payment_attempts.wallet_*`: where to send the user (`pay` answered `PAYMENT_IN_PROCESS` with
-- `normalUrl`, `schemeUrl`, `applinkUrl`, `appIdentifier`); all null: the wallet asked nothing.
-- `orders.return_url`: where the wallet sends the user back afterwards (every attempt's
-- `paymentRedirectUrl`); null: none was given.

ALTER TABLE payment_attempts ADD COLUMN wallet_normal_url TEXT;
ALTER TABLE payment_attempts ADD COLUMN wallet_scheme_url TEXT;
ALTER TABLE payment_attempts ADD COLUMN wallet_applink_url TEXT;
ALTER TABLE payment_attempts ADD COLUMN wallet_app_identifier TEXT;
ALTER TABLE orders ADD COLUMN return_url TEXT;

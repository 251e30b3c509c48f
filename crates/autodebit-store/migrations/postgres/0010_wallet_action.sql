-- autodebit-store schema 10 (postgres): where the wallet needs its user before it can finish a payment
-- (`pay` answered `PAYMENT_IN_PROCESS` with `normalUrl`, `schemeUrl`, `applinkUrl`,
-- `appIdentifier`). All null: the wallet asked nothing of the user.

ALTER TABLE payment_attempts ADD COLUMN wallet_normal_url TEXT;
ALTER TABLE payment_attempts ADD COLUMN wallet_scheme_url TEXT;
ALTER TABLE payment_attempts ADD COLUMN wallet_applink_url TEXT;
ALTER TABLE payment_attempts ADD COLUMN wallet_app_identifier TEXT;

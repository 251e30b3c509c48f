-- autodebit-store schema 8 (sqlite): the secondary merchant an authorization was granted to
-- (`consult`'s `authClientId`), whose `referenceMerchantId` every payment of it carries. Null: the
-- merchant itself.

ALTER TABLE authorizations ADD COLUMN secondary_merchant TEXT;

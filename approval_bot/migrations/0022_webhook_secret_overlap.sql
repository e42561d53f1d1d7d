-- a rotated subscription secret: the one it replaced still signs (beside the new one)
-- until `previous_secret_until`, so a receiver has a day to switch to the new secret
ALTER TABLE webhook_subscriptions
    ADD COLUMN previous_secret TEXT CHECK (previous_secret GLOB 'whsec_*');
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_until TEXT;

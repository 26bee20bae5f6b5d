"""The account request: fields and rules, persistence, OTP policy, SMS gateways, request-form PDF."""

"""The account's auth tokens, rotated as Twilio rotates them.

Accounts v1 (twilio/twilio-oai spec/json/twilio_accounts_v1.json @ d50069b): `POST
/v1/AuthTokens/Secondary` creates a secondary token, `POST /v1/AuthTokens/Promote` makes it the
primary ("all requests to Twilio using your old primary Auth Token will result in an error"),
`DELETE /v1/AuthTokens/Secondary` removes it. Webhooks are signed with the primary token only:
error 57012 lists "a secondary token that has not been promoted to Primary AuthToken" among the
causes of a signature that does not validate (https://www.twilio.com/docs/api/errors/57012).
"""

from __future__ import annotations

import hmac

__all__ = ["AuthTokens", "TokenError"]


class TokenError(ValueError):
    """A rotation step that cannot be taken now (e.g. promoting without a secondary)."""


class AuthTokens:
    def __init__(self, primary: str) -> None:
        self._initial = primary
        self.primary = primary
        self.secondary: str | None = None

    def accepts(self, password: str) -> bool:
        """REST Basic auth: the primary, or the secondary once it exists."""
        candidates = [self.primary] + ([self.secondary] if self.secondary else [])
        # Compare with every candidate so that the time taken says nothing about which matched.
        matches = [hmac.compare_digest(password.encode(), token.encode()) for token in candidates]
        return any(matches)

    def create_secondary(self, token: str) -> None:
        if not token:
            raise TokenError("the secondary token must not be empty")
        if token == self.primary:
            raise TokenError("the secondary token must differ from the primary")
        self.secondary = token

    def promote(self) -> None:
        """The secondary becomes the primary; the old primary is refused from now on."""
        if self.secondary is None:
            raise TokenError("there is no secondary token to promote: create one first")
        self.primary, self.secondary = self.secondary, None

    def delete_secondary(self) -> None:
        if self.secondary is None:
            raise TokenError("there is no secondary token")
        self.secondary = None

    def reset(self) -> None:
        self.primary, self.secondary = self._initial, None

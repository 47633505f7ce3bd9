Feature: The one-time set-password link
  A new user's welcome mail carries {ROSTER_APP_URL}setpassword/{id}/{secret}.
  POST /auth/setpassword {id, secret, password} redeems it once, within seven
  days on the server's clock; test mode's POST /_test/clock moves that clock.

  Background:
    Given a fresh project
    And the admin has invited the practitioner "Mary Seacole" <mary@example.com>

  Scenario: The link works once
    When "mary@example.com" sets the password "lamp-and-lantern-1854" with the link
    Then the answer is 200
    When "mary@example.com" sets the password "another-lamp-in-scutari" with the link
    Then the answer is 400
    And the answer says "This link has already been used"
    And "mary@example.com" signs in with "lamp-and-lantern-1854"
    And "mary@example.com" cannot sign in with "another-lamp-in-scutari"

  Scenario: The link expires after seven days
    When the clock moves on 8 days
    And "mary@example.com" sets the password "lamp-and-lantern-1854" with the link
    Then the answer is 400
    And the answer says "This link has expired"
    And the invitation of "mary@example.com" is "expired"

  Scenario: The link still works on its last day
    When the clock moves on 6 days
    And "mary@example.com" sets the password "lamp-and-lantern-1854" with the link
    Then the answer is 200

Feature: Resending and revoking an invitation
  Every invite that creates a membership records an invitation
  (GET /admin/projects/{projectId}/invites). Resending mails a new link and the
  old one dies; revoking kills the link and deactivates the membership of a
  user who never signed in.

  Background:
    Given a fresh project
    And the admin has invited the practitioner "Mary Seacole" <mary@example.com>

  Scenario: A resent invitation carries a new link; the first one dies
    When the admin resends the invitation of "mary@example.com"
    Then the answer is 200
    And the answer has:
      | status | pending |
      | sent   | 2       |
    And "mary@example.com" got 2 mails
    When "mary@example.com" sets the password "lamp-and-lantern-1854" with the first link
    Then the answer is 400
    And the answer says "a newer one was sent"
    When "mary@example.com" sets the password "lamp-and-lantern-1854" with the newest link
    Then the answer is 200
    And the invitation of "mary@example.com" is "accepted"

  Scenario: Resending renews an expired invitation
    Given the clock moves on 8 days
    And the invitation of "mary@example.com" is "expired"
    When the admin resends the invitation of "mary@example.com"
    Then the answer is 200
    And the invitation of "mary@example.com" is "pending"
    When "mary@example.com" sets the password "lamp-and-lantern-1854" with the newest link
    Then the answer is 200

  Scenario: A revoked invitation's link dies and its membership goes inactive
    When the admin revokes the invitation of "mary@example.com"
    Then the answer is 200
    And the answer's "status" is "revoked"
    When "mary@example.com" sets the password "lamp-and-lantern-1854" with the link
    Then the answer is 400
    When the admin sends GET "/admin/projects/{project}/members?_count=10"
    Then the answer has:
      | members.0.name              | Mary Seacole |
      | members.0.active            | false        |
      | members.0.invitation.status | revoked      |

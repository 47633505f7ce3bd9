Feature: Inviting people into a project
  A project admin brings people in with POST /admin/projects/{projectId}/invite,
  Medplum's invite algorithm: Roster finds or creates the User (by email, in any
  letter case), finds or creates the profile (a Practitioner, Patient or
  RelatedPerson), creates the ProjectMembership and queues the mail, all in one
  transaction. The Roster-Invite-Outcome header says what happened.

  Background:
    Given a fresh project

  Scenario: A new practitioner is welcomed with a link to choose a password
    When the admin invites the practitioner "Mary Seacole" <mary@example.com>
    Then the answer is 200
    And the header "Roster-Invite-Outcome" is "created"
    And the answer has:
      | resourceType      | ProjectMembership |
      | project.reference | Project/{project} |
      | profile.display   | Mary Seacole      |
    And "mary@example.com" gets a mail "Welcome to" with a set-password link
    When "mary@example.com" sets the password "lamp-and-lantern-1854" with the link
    Then the answer is 200
    And "mary@example.com" signs in with "lamp-and-lantern-1854"
    And the invitation of "mary@example.com" is "accepted"

  Scenario: Someone who already has an account is told where to sign in
    Given another fresh project
    And the other admin invites:
      | resourceType | Practitioner        |
      | firstName    | Ben                 |
      | lastName     | Casey               |
      | email        | ben@example.com     |
      | password     | county-general-1961 |
    When the admin invites the practitioner "Ben Casey" <BEN@example.com>
    Then the answer is 200
    And the header "Roster-Invite-Outcome" is "created"
    And "ben@example.com" gets a mail "You were added to" without a set-password link
    And "ben@example.com" signs in to the project with "county-general-1961"

  Scenario: Inviting a member again is a conflict, unless it is an upsert
    Given the admin has invited the practitioner "Mary Seacole" <mary@example.com>
    When the admin invites the practitioner "Mary Seacole" <mary@example.com>
    Then the answer is 409
    And the answer says "User is already a member of this project"
    When the admin invites:
      | resourceType     | Practitioner     |
      | firstName        | Mary             |
      | lastName         | Seacole          |
      | email            | mary@example.com |
      | upsert           | true             |
      | membership.admin | true             |
    Then the answer is 200
    And the header "Roster-Invite-Outcome" is "updated"
    And the answer's "admin" is true
    And "mary@example.com" got 1 mail

  Scenario: forceNewMembership gives a member a second membership
    Given the admin has invited the practitioner "Mary Seacole" <mary@example.com>
    And keep the answer's "id" as "first"
    When the admin invites:
      | resourceType       | Practitioner     |
      | firstName          | Mary             |
      | lastName           | Seacole          |
      | email              | mary@example.com |
      | forceNewMembership | true             |
    Then the answer is 200
    And the header "Roster-Invite-Outcome" is "created"
    And the answer has:
      | extension.0.url          | https://roster.dev/fhir/StructureDefinition/additional-membership |
      | extension.0.valueBoolean | true                                                              |
    When the admin sends GET "/admin/projects/{project}/members?_count=10"
    Then the answer has:
      | total | 4 |

  Scenario: A patient is invited by the id another system knows them by
    When the admin invites:
      | resourceType | Patient  |
      | firstName    | Ada      |
      | lastName     | Lovelace |
      | externalId   | mrn-1815 |
    Then the answer is 200
    And the answer has:
      | externalId      | mrn-1815     |
      | profile.display | Ada Lovelace |
    When the admin invites:
      | resourceType | Patient  |
      | firstName    | Augusta  |
      | lastName     | King     |
      | externalId   | mrn-1815 |
    Then the answer is 409

  Scenario: A member who is not an admin may not invite
    Given the admin invites:
      | resourceType | Practitioner          |
      | firstName    | Mary                  |
      | lastName     | Seacole               |
      | email        | mary@example.com      |
      | password     | lamp-and-lantern-1854 |
    And "mary@example.com" signs in with "lamp-and-lantern-1854"
    When "mary@example.com" invites the practitioner "Florence Nightingale" <florence@example.com>
    Then the answer is 403
    And "florence@example.com" got 0 mails

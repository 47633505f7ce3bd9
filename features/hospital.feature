Feature: Hospital memberships
  A hospital-membership API, /api/v2/…, over the core: a hospital is a project,
  a medic a Practitioner (the medic id is its id), a membership the
  ProjectMembership, is_deleted its active flag inverted. The credential is a
  Roster access token of a Practitioner (Authorization: Token … or Bearer …).

  Background:
    Given a fresh project
    And the admin invites:
      | resourceType | Practitioner            |
      | firstName    | Gregory                 |
      | lastName     | House                   |
      | email        | house@example.com       |
      | password     | vicodin-and-violin-2004 |
      | sendEmail    | false                   |
    And keep the answer's "id" as "house membership"

  Scenario: An admin medic lists the hospital, soft-deletes a medic and restores him
    When the admin sends GET "/api/v2/management/memberships/"
    Then the answer has:
      | count                     | 1     |
      | results.0.type_membership | ADMIN |
    When the admin sends GET "/api/v2/memberships/{project}"
    Then the answer has:
      | # | 2 |
    Given "house@example.com" signs in with "vicodin-and-violin-2004"
    When the admin sends DELETE "/api/v2/management/memberships/{house membership}"
    Then the answer is 201
    And the answer's "is_deleted" is true
    When "house@example.com" sends GET "/api/v2/management/memberships/"
    Then the answer is 401
    When the admin sends PATCH "/api/v2/management/memberships/{house membership}" with:
      """
      {"is_deleted": false, "type_membership": "ADMIN"}
      """
    Then the answer is 201
    And the answer has:
      | is_deleted      | false |
      | type_membership | ADMIN |
    When "house@example.com" signs in with "vicodin-and-violin-2004"
    And "house@example.com" sends GET "/api/v2/management/memberships/"
    Then the answer has:
      | results.0.medic.name      | Gregory House |
      | results.0.type_membership | ADMIN         |

  Scenario: A member medic may not add anyone
    Given "house@example.com" signs in with "vicodin-and-violin-2004"
    When "house@example.com" sends POST "/api/v2/management/memberships/" with:
      """
      {"medic": "someone", "hospital": "{project}", "type_membership": "MEMBER"}
      """
    Then the answer is 401
    And the answer's "message" is "Unauthorized Medic"

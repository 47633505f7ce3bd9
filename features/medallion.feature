Feature: Medallion members and invites
  Medallion's member API, /p/api/v1/organizations/…, over the core: an
  organization is a project, a member its ProjectMembership, an invite the
  core's invitation. The organization's API key (x-api-key) is the secret of an
  admin ClientApplication of the project.

  Background:
    Given a fresh project

  Scenario: A provider is added, invited, signs up, and is later deactivated
    When the client sends POST "/p/api/v1/organizations/members/" with:
      """
      {"role": "provider", "user": {"email": "jane@example.com"},
       "provider": {"profession": "MD"}, "first_name": "Jane", "last_name": "Doe"}
      """
    Then the answer is 201
    And the answer has:
      | role                | provider         |
      | is_active           | true             |
      | user.email          | jane@example.com |
      | provider.profession | MD               |
    And keep the answer's "id" as "member"
    When the client sends GET "/p/api/v1/organizations/members/?user__email=JANE@example.com"
    Then the answer has:
      | count        | 1        |
      | results.0.id | {member} |
    When the client sends POST "/p/api/v1/organizations/{project}/invites/" with:
      """
      {"membership_id": "{member}"}
      """
    Then the answer is 201
    And the answer's "status" is "pending"
    And keep the answer's "id" as "invite"
    And "jane@example.com" gets a mail "You are invited to join" with a set-password link
    When "jane@example.com" sets the password "trauma-bay-doe-2024" with the link
    Then the answer is 200
    When the client sends GET "/p/api/v1/organizations/invites/{invite}/"
    Then the answer's "status" is "accepted"
    When "jane@example.com" signs in with "trauma-bay-doe-2024"
    And "jane@example.com" sends GET "/p/api/v1/organizations/members/{member}/"
    Then the answer is 200
    When the client sends PATCH "/p/api/v1/organizations/members/{member}/" with:
      """
      {"is_active": false}
      """
    Then the answer's "is_active" is false
    When "jane@example.com" sends GET "/p/api/v1/organizations/members/{member}/"
    Then the answer is 401

  Scenario: Errors come in Django REST framework's shapes
    When the client sends POST "/p/api/v1/organizations/members/" with:
      """
      {"role": "owner", "user": {"email": "someone@example.com"}}
      """
    Then the answer is 400
    And the answer's "role.0" is "\"owner\" is not a valid choice."
    When nobody sends GET "/p/api/v1/organizations/members/"
    Then the answer is 401
    And the answer's "detail" is "Authentication credentials were not provided."

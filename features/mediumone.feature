Feature: Medium One users and tenants
  Medium One's user API, /mediumone/…, over the core: a tenant is a project, a
  tenant admin (TA) a project admin, acting with a bearer token. Answers are the
  documented JSON values: a user id as a JSON string, null, or an object.

  Background:
    Given a fresh project

  Scenario: A tenant admin adds a user, who chooses a password and is later removed
    When the admin sends GET "/mediumone/tenant_add_user?tenant_id={project}&role=tenant-user&user_name=sam@example.com&full_name=Sam+Smith"
    Then the answer is 200
    And the answer body is null
    And "sam@example.com" gets a mail "Welcome to" with a set-password link
    When "sam@example.com" sets the password "telemetry-stream-42" with the link
    And "sam@example.com" signs in with "telemetry-stream-42"
    And "sam@example.com" sends GET "/mediumone/whoami"
    Then the answer has:
      | user_name | sam@example.com |
      | full_name | Sam Smith       |
    When the admin sends GET "/mediumone/user_list_in_tenant?tenant_id={project}"
    Then the answer has:
      | user_list.# | 2 |
    When the admin sends GET "/mediumone/tenant_remove_user?tenant_id={project}&user_name=sam@example.com"
    Then the answer body is null
    When "sam@example.com" sends GET "/mediumone/whoami"
    Then the answer is 401

  Scenario: A tenant admin cannot act on another tenant
    Given another fresh project
    When the admin sends GET "/mediumone/user_list_in_tenant?tenant_id={other project}"
    Then the answer is 403
    And the answer says "Forbidden: a TA acts only on its own tenant"

Feature: Medable accounts
  Medable's account API, /medable/{org}/…, over the core: {org} is the
  project's id or unique name, an account a project-scoped User with a Patient
  profile. Register and login set the session cookie md.sid.

  Background:
    Given a fresh project

  Scenario: A patient registers, signs out, signs in and resets a forgotten password
    When "jane@example.com" sends POST "/medable/{project}/v2/accounts/register" with:
      """
      {"name": {"first": "Jane", "last": "Roe"}, "email": "jane@example.com",
       "password": "a-good-long-password", "mobile": "+15555550100",
       "dob": "1990-04-02", "gender": "f", "tz": "US/Pacific"}
      """
    Then the answer is 200
    And the answer has:
      | object | account    |
      | state  | unverified |
    When "jane@example.com" sends GET "/medable/{project}/v2/accounts/me"
    Then the answer's "email" is "jane@example.com"
    When "jane@example.com" sends POST "/medable/{project}/v2/accounts/me/logout"
    And "jane@example.com" sends GET "/medable/{project}/v2/accounts/me"
    Then the answer's "errCode" is "cortex.accessDenied.notLoggedIn"
    When nobody sends POST "/medable/{project}/v2/accounts/request-password-reset" with:
      """
      {"email": "jane@example.com"}
      """
    Then the answer's "object" is "result"
    And "jane@example.com" gets a mail "Reset your" with a set-password link
    And keep the link mailed to "jane@example.com" as "reset link"
    When nobody sends POST "/medable/{project}/accounts/reset-password" with:
      """
      {"password": "a-brand-new-passphrase", "token": "{reset link}"}
      """
    Then the answer is 200
    When "jane@example.com" sends POST "/medable/{project}/v2/accounts/login" with:
      """
      {"email": "jane@example.com", "password": "a-brand-new-passphrase"}
      """
    Then the answer's "object" is "account"
    When the admin sends GET "/medable/{project}/v2/accounts?limit=10"
    Then the answer has:
      | object       | list             |
      | data.#       | 2                |
      | data.1.email | jane@example.com |

  Scenario: A wrong password is Medable's fault
    When nobody sends POST "/medable/{project}/v2/accounts/login" with:
      """
      {"email": "nobody@example.com", "password": "not-a-password"}
      """
    Then the answer is 403
    And the answer's "errCode" is "cortex.accessDenied.invalidCredentials"

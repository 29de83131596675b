@client @admin
Feature: failures around refresh
  A dead refresh token means a new wx.login with a fresh code; a failing
  WeChat means bounded retries and then a clear error to every waiting
  caller; a refusal that is not about the token (a 401 in bearer) goes back
  to the caller (SPEC §1: failed refresh, code reuse, no or wrong replay).

  Scenario: a dead refresh token falls back to wx.login once per device
    Given 3 devices logged in
    When every refresh token family is revoked
    And the access tokens expire
    And each device sends 4 concurrent GET /api/orders
    Then every request succeeded
    And exactly 2 logins per device
    And jscode2session answered 40163 0 times
    And all invariants hold

  Scenario: the login after a dead refresh token uses a fresh wx.login code
    Given 2 devices logged in
    When every refresh token family is revoked
    And the access tokens expire
    And device d1 sends GET /api/orders as request again
    Then request again succeeded
    And exactly 2 logins for device d1
    And jscode2session answered 40163 0 times
    And invariant code-single-use holds

  # Retrying a login that WeChat refused as busy is allowed but not required:
  # giving up with a clear error is conformant too (SPEC §5 bounded-retry).
  Scenario: WeChat busy then rate limited during re-login: bounded retries, every caller answered
    Given 3 devices logged in
    And every refresh token family is revoked
    And the access tokens expire
    And WeChat has these faults:
      | api            | errcode | count | users |
      | jscode2session | -1      | 1     | d1    |
      | jscode2session | 45011   | 1     | d1    |
    When each device sends 4 concurrent GET /api/orders
    Then every request settled
    And invariant bounded-retry holds
    And invariant no-lost-requests holds
    And invariant code-single-use holds

  Scenario: refresh and re-login fail for good: every waiting caller gets a clear error
    Given 3 devices logged in
    And every refresh token family is revoked
    And the access tokens expire
    And WeChat answers jscode2session with errcode -1
    When each device sends 4 concurrent GET /api/orders
    Then every request failed with a clear error
    And invariant bounded-retry holds
    And invariant no-lost-requests holds

  Scenario: WeChat's gateway failing (HTTP 502) during re-login: clear errors, nothing hangs
    Given 2 devices logged in
    And every refresh token family is revoked
    And the access tokens expire
    And WeChat has these faults:
      | api            | status |
      | jscode2session | 502    |
    When each device sends 3 concurrent GET /api/orders
    Then every request failed with a clear error
    And invariant no-lost-requests holds
    And invariant bounded-retry holds

  # /api/reauth answers the style's not_token signal: 401 password_required
  # in bearer, 403 forbidden in status-403, 200 {"code":10010} in body-code.
  Scenario: a refusal that is not about the token goes back to the caller, not retried
    Given 1 device logged in
    When device d1 sends GET /api/reauth as request reauth
    Then request reauth got the backend's not-about-the-token answer
    And request reauth reached the backend once
    And exactly 0 refreshes for device d1
    And invariant bounded-retry holds

  # In status-403 expiry is a 403 too: only the body tells token_expired
  # from forbidden, so one request can meet both.
  @style:status-403
  Scenario: a 403 forbidden after a 403 token_expired goes to the caller, with one refresh
    Given 1 device logged in
    When the access tokens expire
    And device d1 sends GET /api/reauth as request reauth
    Then request reauth was answered 403
    And request reauth got the backend's not-about-the-token answer
    And request reauth reached the backend twice
    And exactly 1 refresh for device d1
    And all invariants hold

  Scenario: concurrent first login: one login per device, every code used once
    Given 5 devices
    When each device sends 8 concurrent GET /api/orders
    Then every request succeeded
    And exactly 1 login per device
    And jscode2session answered 40163 0 times
    And invariant code-single-use holds
    And invariant single-refresh holds

  Scenario: a rate-limited re-login (45011) is not retried in a tight loop
    Given 1 device logged in
    And every refresh token family is revoked
    And the access tokens expire
    And WeChat answers jscode2session with errcode 45011 once
    When device d1 sends GET /api/orders as request q
    Then every request settled
    And at most 4 logins for device d1
    And invariant bounded-retry holds

  Scenario: after a failed re-login, the client recovers once WeChat is back
    # A client may refuse new logins for a short cool-down after a failure
    # (the reference client: 1s); the user retries two seconds later.
    Given 2 devices logged in
    And every refresh token family is revoked
    And the access tokens expire
    And WeChat answers jscode2session with errcode -1
    When each device sends 2 concurrent GET /api/orders
    Then every request failed with a clear error
    When the WeChat faults are cleared
    And I wait 2 seconds
    And each device sends 2 concurrent GET /api/orders
    Then request r5 succeeded
    And request r8 succeeded
    And invariant no-lost-requests holds
    And invariant code-single-use holds

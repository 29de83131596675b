@backend @style:bearer
Feature: protected resources signal expiry and bad tokens, never an empty success
  An expired access token gets 401 token_expired with a bearer challenge; a
  bad, unsigned or revoked one gets 401 invalid_token. A client can only
  refresh transparently when the expiry is signalled (SPEC §4, expiry-signalled).

  Scenario: a valid token gets the resource, echoing the request id
    Given device d1 is logged in to the backend
    When device d1 calls GET /api/orders?rid=q1 with its access token
    Then the response status is 200
    And the response field rid is "q1"

  @admin
  Scenario: an access token past its lifetime gets 401 token_expired with a challenge
    Given device d1 is logged in to the backend
    When 2 hours pass
    And device d1 calls GET /api/orders with its access token
    Then the response status is 401
    And the response field error is "token_expired"
    And the response header WWW-Authenticate contains "invalid_token"
    And the response header WWW-Authenticate contains "expired"

  @admin
  Scenario: a token expired by the admin API gets the same expiry signal
    Given device d1 is logged in to the backend
    When the access tokens expire
    And device d1 calls GET /api/orders with its access token
    Then the response status is 401
    And the response field error is "token_expired"
    And invariant expiry-signalled holds

  Scenario: a token with a broken signature is invalid, not expired
    Given device d1 is logged in to the backend
    When device d1 calls GET /api/orders with a tampered access token
    Then the response status is 401
    And the response field error is "invalid_token"

  Scenario: an unsigned token (alg none) is refused
    Given device d1 is logged in to the backend
    When device d1 calls GET /api/orders with an unsigned access token
    Then the response status is 401
    And the response field error is "invalid_token"

  Scenario: a request without a token is refused
    When device d1 calls GET /api/orders with no token
    Then the response status is 401

  @admin
  Scenario: a revoked family's access token is invalid
    Given device d1 is logged in to the backend
    When the refresh token family of device d1 is revoked
    And device d1 calls GET /api/orders with its access token
    Then the response status is 401
    And the response field error is "invalid_token"

  Scenario: a POST performs one recorded side effect and echoes the request id
    Given device d1 is logged in to the backend
    When device d1 calls POST /api/orders?rid=p1 with its access token and body:
      """
      {"item":"sku-1","qty":1}
      """
    Then the response status is 200
    And the response field ok is true
    And the response field rid is "p1"
    And the response has fields effect

  Scenario: the verify route confirms a valid token
    Given device d1 is logged in to the backend
    When device d1 calls GET /auth/verify with its access token
    Then the response status is 200
    And the response field valid is true

  @admin
  Scenario: a 401 that is not about the token says so
    Given device d1 is logged in to the backend
    When device d1 calls GET /api/reauth with its access token
    Then the response status is 401
    And the response field error is "password_required"

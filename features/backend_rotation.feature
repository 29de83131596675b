@backend @style:bearer
Feature: refresh tokens rotate, and reuse follows the configured policy
  Every refresh returns a new pair. What a second presentation of a rotated
  refresh token does depends on the policy: strict single use revokes the
  whole family (RFC 9700 §4.14.2), grace:<d> tolerates it for a while,
  reuse:<n> tolerates n more presentations.

  Scenario: a refresh returns a new pair whose access token works
    Given device d1 is logged in to the backend
    When device d1 refreshes its tokens
    Then the response status is 200
    And the response has fields access_token, refresh_token
    When device d1 calls GET /api/orders with its access token
    Then the response status is 200

  @admin
  Scenario: under strict rotation, reusing a rotated refresh token revokes the family
    Given the backend reuse policy is strict
    And device d1 is logged in to the backend
    When device d1 refreshes its tokens
    And device d1 refreshes with its previous refresh token
    Then the response status is 401
    And the response field error is "invalid_grant"
    When device d1 refreshes its tokens
    Then the response status is 401
    And the response field error is "invalid_grant"

  @admin
  Scenario: ten parallel refreshes with one token: exactly one succeeds
    Given the backend reuse policy is strict
    And device d1 is logged in to the backend
    When device d1 sends 10 parallel refreshes with its refresh token
    Then exactly 1 of the parallel refreshes succeeded
    And 9 of the parallel refreshes were answered 401

  @admin
  Scenario: within a grace window the previous refresh token still works
    Given the backend reuse policy is grace:30s
    And device d1 is logged in to the backend
    When device d1 refreshes its tokens
    And 10 seconds pass
    And device d1 refreshes with its previous refresh token
    Then the response status is 200

  @admin
  Scenario: after the grace window, reuse revokes the family
    Given the backend reuse policy is grace:30s
    And device d1 is logged in to the backend
    When device d1 refreshes its tokens
    And 31 seconds pass
    And device d1 refreshes with its previous refresh token
    Then the response status is 401
    And the response field error is "invalid_grant"

  @admin
  Scenario Outline: reuse:<n> lets <ok> of <parallel> parallel refreshes with one token succeed
    Given the backend reuse policy is reuse:<n>
    And device d1 is logged in to the backend
    When device d1 sends <parallel> parallel refreshes with its refresh token
    Then <ok> of the parallel refreshes succeeded

    Examples:
      | n | parallel | ok |
      | 1 | 3        | 2  |
      | 2 | 5        | 3  |

  @admin
  Scenario: a revoked family's refresh token is refused
    Given device d1 is logged in to the backend
    When the refresh token family of device d1 is revoked
    And device d1 refreshes its tokens
    Then the response status is 401
    And the response field error is "invalid_grant"

  @admin
  Scenario: an expired refresh token is refused
    Given refresh tokens live 1 hour
    And device d1 is logged in to the backend
    When 61 minutes pass
    And device d1 refreshes its tokens
    Then the response status is 401
    And the response field error is "invalid_grant"

  @admin
  Scenario: an expired access token can still be refreshed
    Given device d1 is logged in to the backend
    When 3 hours pass
    And device d1 refreshes its tokens
    Then the response status is 200
    When device d1 calls GET /api/orders with its access token
    Then the response status is 200

  Scenario: an unknown refresh token is refused
    When I send POST /auth/refresh to the backend with body:
      """
      {"refresh_token":"not-a-refresh-token"}
      """
    Then the response status is 401
    And the response field error is "invalid_grant"

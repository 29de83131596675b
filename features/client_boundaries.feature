@client @admin
Feature: boundary races around expiry
  A late 401 for a request sent with the old token, proactive refresh near
  expiry, and skewed device clocks must not start extra refreshes
  (SPEC §1: boundary races).

  Scenario: a late 401 that arrives after the refresh does not start a second refresh
    Given 1 device logged in
    When the access tokens expire
    And device d1 sends GET /api/orders?delay_ms=400 as request slow in the background
    And I wait 50ms
    And device d1 sends GET /api/orders as request fast
    And the background requests settle
    Then request slow succeeded
    And request fast succeeded
    And exactly 1 refresh for device d1
    And all invariants hold

  Scenario: requests just before expiry refresh once, before the token expires
    Given 5 devices logged in
    When the clock is 10 seconds before the access tokens expire
    And each device sends 8 concurrent GET /api/orders
    Then every request succeeded
    And at most 1 refresh per device
    And no request met an expired token
    And invariant single-refresh holds

  Scenario: a device clock 10 minutes ahead does not cause extra refreshes
    Given the device clocks run 10 minutes ahead
    And 3 devices logged in
    When each device sends 8 concurrent GET /api/orders
    Then every request succeeded
    And at most 1 token call per device
    And invariant single-refresh holds

  Scenario: a device clock 30 minutes behind still refreshes on the backend's signal
    Given the device clocks run 30 minutes behind
    And 3 devices logged in
    When 2 hours 1 minute pass
    And each device sends 4 concurrent GET /api/orders
    Then every request succeeded
    And at most 1 refresh per device
    And all invariants hold

  Scenario Outline: one refresh per device whatever the backend's reuse policy (<policy>)
    Given the backend reuse policy is <policy>
    And 4 devices logged in
    When the access tokens expire
    And each device sends 6 concurrent GET /api/orders
    Then every request succeeded
    And at most 1 refresh per device
    And all invariants hold

    Examples:
      | policy    |
      | strict    |
      | grace:10s |
      | reuse:2   |

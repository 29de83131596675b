@client @admin
Feature: writing your first scenario
  The three scenarios of the walk-through in docs/conform.md, written only
  from the steps `tokenstorm steps` lists. They run in CI with the rest of
  the suite, so the walk-through cannot drift from what the runner accepts.

  # 1. The smallest useful check: one expired token, one request.
  Scenario: an expired token is refreshed once and the request replayed
    Given 1 device logged in
    When the access tokens expire
    And device d1 sends GET /api/orders as request orders
    Then request orders succeeded
    And request orders was replayed once with the same body
    # Counts start with the scenario: the warm-up of "Given 1 device logged
    # in" was a login, not a refresh, so this counts the expiry's refresh only.
    And exactly 1 refresh for device d1
    And all invariants hold

  # 2. A storm: count only what the expiry caused.
  Scenario: three phones with four requests each when the token expires
    Given 3 devices logged in
    When counting starts
    And the access tokens expire
    And each device sends 4 concurrent GET /api/orders
    Then every request settled within 10 seconds
    And every request succeeded
    And exactly 1 token call per device since counting started
    And WeChat saw at most 3 jscode2session calls since counting started
    And the refresh amplification is at most 1
    And all invariants hold

  # 3. A POST must not be executed twice.
  Scenario: a POST that meets the expiry is executed once
    Given 1 device logged in
    When the access tokens expire
    And device d1 sends POST /api/orders as request order with body:
      """json
      {"item":"sku-1","qty":1}
      """
    Then request order succeeded
    And request order reached the backend twice
    And request order was executed once
    And invariant no-duplicate-effects holds

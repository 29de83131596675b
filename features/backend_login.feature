@backend @style:bearer
Feature: the backend's login exchanges wx.login codes with WeChat
  POST /auth/login {"code"} calls jscode2session over HTTP like a real backend.
  A code WeChat rejects is the client's problem (400 invalid_code); WeChat
  being busy, rate limited or unreachable is temporary (503 with Retry-After).
  Never a 500.

  Scenario: a login returns a token pair and its lifetimes
    When device d1 logs in to the backend
    Then the response status is 200
    And the response has fields access_token, refresh_token, token_type, expires_in, refresh_expires_in
    And the response field token_type is "Bearer"
    And jscode2session answered 0 1 time

  Scenario: a code used twice is refused as invalid_code with WeChat's 40163
    Given device d1 is logged in to the backend
    When device d1 logs in to the backend with its last code
    Then the response status is 400
    And the response field error is "invalid_code"
    And the response field wechat_errcode is 40163

  Scenario: an unknown code is refused as invalid_code with WeChat's 40029
    When device d1 logs in to the backend with code "0notarealcode0000000000000000000"
    Then the response status is 400
    And the response field error is "invalid_code"
    And the response field wechat_errcode is 40029

  Scenario: a blocked user's code is refused with WeChat's 40226
    Given WeChat user d1 is blocked
    When device d1 logs in to the backend
    Then the response status is 400
    And the response field error is "invalid_code"
    And the response field wechat_errcode is 40226

  Scenario Outline: WeChat answering <errcode> makes the login a 503 with Retry-After, not a 500
    Given WeChat answers jscode2session with errcode <errcode>
    When device d1 logs in to the backend
    Then the response status is 503
    And the response field error is "upstream_unavailable"
    And the response field wechat_errcode is <errcode>
    And the response has header Retry-After

    Examples:
      | errcode |
      | -1      |
      | 45011   |

  Scenario: WeChat unreachable makes the login a 503, not a 500
    Given WeChat is unreachable
    When device d1 logs in to the backend
    Then the response status is 503
    And the response field error is "upstream_unavailable"
    And the response has header Retry-After

  Scenario: WeChat answering HTTP 502 makes the login a 503
    Given WeChat has these faults:
      | api            | status |
      | jscode2session | 502    |
    When device d1 logs in to the backend
    Then the response status is 503
    And the response field error is "upstream_unavailable"

  Scenario: a login without a code is a 400 and WeChat is not asked
    When I send POST /auth/login to the backend with body:
      """
      {}
      """
    Then the response status is 400
    And WeChat saw 0 jscode2session calls

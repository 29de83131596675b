@wechat
Feature: mock WeChat's jscode2session behaves like WeChat
  Real SDKs and backends depend on WeChat's warts, so the mock copies them:
  errors are HTTP 200 with an errcode body ending in a rid, a success is
  text/plain with no errcode key at all, codes are single-use and live five
  minutes, and each user has a minute quota.

  Scenario: a fresh code is exchanged for an openid and a session key
    Given device d1 has a wx.login code
    When I exchange the code of device d1 with jscode2session
    Then the response status is 200
    And the response is text/plain and has no errcode
    And the response has fields openid, session_key
    And the response has no field unionid
    And the openid is the stable openid of device d1

  Scenario: a code can be exchanged only once (40163)
    Given device d1 has a wx.login code
    When I exchange the code of device d1 with jscode2session
    And I exchange the code of device d1 with jscode2session again
    Then WeChat answers errcode 40163
    And the response field errmsg contains "code been used"
    And jscode2session answered 40163 1 time
    And invariant code-single-use is violated

  Scenario: a code still works after 4 minutes 59 seconds
    Given device d1 has a wx.login code
    When 4 minutes 59 seconds pass
    And I exchange the code of device d1 with jscode2session
    Then the response is text/plain and has no errcode

  Scenario: a code older than five minutes is invalid (40029)
    Given device d1 has a wx.login code
    When 5 minutes 1 second pass
    And I exchange the code of device d1 with jscode2session
    Then WeChat answers errcode 40029
    And the response field errmsg contains "invalid code"

  Scenario Outline: a bad <param> is answered with errcode <errcode>
    Given device d1 has a wx.login code
    When I call jscode2session for device d1 with <param> set to "<value>"
    Then WeChat answers errcode <errcode>
    And the response content type is text/plain

    Examples:
      | param      | value              | errcode |
      | appid      |                    | 41002   |
      | secret     |                    | 41004   |
      | js_code    |                    | 41008   |
      | appid      | wx0000000000000000 | 40013   |
      | secret     | wrong-secret       | 40125   |
      | js_code    | 0unknowncode       | 40029   |
      | grant_type | client_credential  | 40002   |

  Scenario: a wrong HTTP method is answered 43001
    Given device d1 has a wx.login code
    When I call jscode2session for device d1 with method PUT
    Then WeChat answers errcode 43001

  Scenario: a wrongly cased API path is answered 40066, as WeChat does
    When I send GET /sns/jsCode2Session?appid={appid} to WeChat
    Then WeChat answers errcode 40066

  Scenario: a blocked high-risk user gets 40226
    Given WeChat user d2 is blocked
    And device d2 has a wx.login code
    When I exchange the code of device d2 with jscode2session
    Then WeChat answers errcode 40226

  Scenario: the minute quota answers 45011 and resets the next minute
    Given the WeChat minute quota is 3
    When device d1 exchanges 4 fresh codes with jscode2session within one minute
    Then WeChat answers errcode 45011
    And jscode2session answered 0 3 times
    And jscode2session answered 45011 1 time
    When 1 minute passes
    And I exchange a fresh code of device d1 with jscode2session
    Then the response is text/plain and has no errcode

  @slow
  Scenario: the default quota is WeChat's 100 calls per user per minute
    When device d1 exchanges 101 fresh codes with jscode2session within one minute
    Then jscode2session answered 0 100 times
    And jscode2session answered 45011 1 time

  Scenario: the openid is stable while the session key rotates with every login
    When I exchange a fresh code of device d1 with jscode2session
    And I exchange a fresh code of device d1 with jscode2session
    Then the last 2 answers have the same openid
    And the last 2 answers have different session_key

  Scenario: two users of one app get different openids
    When I exchange a fresh code of device d1 with jscode2session
    And I exchange a fresh code of device d2 with jscode2session
    Then the last 2 answers have different openid

  Scenario: WeChat busy (-1) is answered like WeChat, and the code survives it
    Given device d1 has a wx.login code
    And WeChat answers jscode2session with errcode -1 once
    When I exchange the code of device d1 with jscode2session
    Then WeChat answers errcode -1
    When I exchange the code of device d1 with jscode2session again
    Then the response is text/plain and has no errcode

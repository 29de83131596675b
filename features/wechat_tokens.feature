@wechat
Feature: mock WeChat's access tokens, checksession and wx.login
  cgi-bin/token answers application/json; a new token leaves the previous one
  valid for five more minutes. checksession verifies an HMAC-SHA256 signature
  made with the user's current session_key.

  Scenario: cgi-bin/token issues a two-hour access token as JSON
    When I request a WeChat access token
    Then the response status is 200
    And the response content type is application/json
    And the response has fields access_token, expires_in
    And the response field expires_in is 7200
    And the response has no field errcode

  Scenario Outline: cgi-bin/token refuses a bad <param> with <errcode>
    When I request a WeChat access token with <param> set to "<value>"
    Then WeChat answers errcode <errcode>
    And the response content type is application/json

    Examples:
      | param      | value              | errcode |
      | grant_type | authorization_code | 40002   |
      | appid      | wx0000000000000000 | 40013   |
      | secret     | wrong-secret       | 40125   |

  Scenario: a new access token leaves the previous one valid for five minutes
    Given device d1 has a wx.login code
    And I exchange the code of device d1 with jscode2session
    When I request a WeChat access token as A
    And I request a WeChat access token as B
    And I check the session of device d1 with access token A
    Then WeChat answers errcode 0
    When 4 minutes pass
    And I check the session of device d1 with access token A
    Then WeChat answers errcode 0
    When 2 minutes pass
    And I check the session of device d1 with access token A
    Then WeChat answers errcode 40001
    When I check the session of device d1 with access token B
    Then WeChat answers errcode 0

  Scenario: an access token expires after two hours (42001)
    Given device d1 has a wx.login code
    And I exchange the code of device d1 with jscode2session
    When I request a WeChat access token as A
    And 2 hours pass
    And I check the session of device d1 with access token A
    Then WeChat answers errcode 42001

  Scenario: checksession accepts a signature made with the current session key
    Given device d1 has a wx.login code
    And I exchange the code of device d1 with jscode2session
    When I check the session of device d1
    Then WeChat answers errcode 0
    And the response field errmsg is "ok"

  Scenario: checksession refuses a wrong signature (87009)
    Given device d1 has a wx.login code
    And I exchange the code of device d1 with jscode2session
    When I check the session of device d1 with a wrong signature
    Then WeChat answers errcode 87009

  Scenario: a new wx.login rotates the session key, so the old signature fails
    Given device d1 has a wx.login code
    And I exchange the code of device d1 with jscode2session
    When device d1 calls wx.login
    And I check the session of device d1
    Then WeChat answers errcode 87009

  Scenario: checksession without an access token is answered 41001
    When I send GET /wxa/checksession?openid={openid:d1}&signature=00&sig_method=hmac_sha256 to WeChat
    Then WeChat answers errcode 41001

  Scenario: wx.login on the device gives a code that lives five minutes
    When device d1 calls wx.login
    Then the response status is 200
    And the response has field code
    And the response field expires_in is 300

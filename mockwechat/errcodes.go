package mockwechat

import "strconv"

// WeChat errcodes the mock answers. The names are ours; the numbers and the
// errmsg texts are WeChat's.
const (
	ErrcodeOK                 = 0
	ErrcodeSystemError        = -1    // "system error": WeChat busy (only via faults)
	ErrcodeInvalidCredential  = 40001 // access_token unknown, superseded or not latest
	ErrcodeInvalidGrantType   = 40002
	ErrcodeInvalidOpenID      = 40003
	ErrcodeInvalidAppID       = 40013
	ErrcodeInvalidCode        = 40029 // unknown, expired or other app's code
	ErrcodeInvalidURL         = 40066 // no such API path
	ErrcodeInvalidArgs        = 40097
	ErrcodeInvalidSecret      = 40125
	ErrcodeCodeUsed           = 40163
	ErrcodeCodeBlocked        = 40226 // high-risk user
	ErrcodeAccessTokenMissing = 41001
	ErrcodeAppIDMissing       = 41002
	ErrcodeSecretMissing      = 41004
	ErrcodeCodeMissing        = 41008
	ErrcodeOpenIDMissing      = 41009
	ErrcodeAccessTokenExpired = 42001
	ErrcodeRequireGET         = 43001
	ErrcodeRequirePOST        = 43002
	ErrcodeDailyQuota         = 45009
	ErrcodeMinuteQuota        = 45011
	ErrcodeDataFormat         = 47001 // POST body is not the expected JSON
	ErrcodeInvalidSignature   = 87009
)

// errmsgs holds WeChat's texts. WeChat is inconsistent about the comma before
// "rid:" ("invalid code, rid: …" but "system error rid: …"); the texts observed
// in the wild are copied with their punctuation.
var errmsgs = map[int]struct {
	text  string
	comma bool
}{
	ErrcodeOK:                 {"ok", false},
	ErrcodeSystemError:        {"system error", false},
	ErrcodeInvalidCredential:  {"invalid credential, access_token is invalid or not latest", false},
	ErrcodeInvalidGrantType:   {"invalid grant_type", false},
	ErrcodeInvalidOpenID:      {"invalid openid", false},
	ErrcodeInvalidAppID:       {"invalid appid", false},
	ErrcodeInvalidCode:        {"invalid code", true},
	ErrcodeInvalidURL:         {"invalid url", true},
	ErrcodeInvalidArgs:        {"invalid args", false},
	ErrcodeInvalidSecret:      {"invalid appsecret", false},
	ErrcodeCodeUsed:           {"code been used", true},
	ErrcodeCodeBlocked:        {"code blocked", false},
	ErrcodeAccessTokenMissing: {"access_token missing", false},
	ErrcodeAppIDMissing:       {"appid missing", false},
	ErrcodeSecretMissing:      {"appsecret missing", false},
	ErrcodeCodeMissing:        {"missing code", true},
	ErrcodeOpenIDMissing:      {"missing openid", false},
	ErrcodeAccessTokenExpired: {"access_token expired", false},
	ErrcodeRequireGET:         {"require GET method", false},
	ErrcodeRequirePOST:        {"require POST method", false},
	ErrcodeDailyQuota:         {"reach max api daily quota limit", false},
	ErrcodeMinuteQuota:        {"api minute-quota reach limit  mustslower  retry next minute", false},
	ErrcodeDataFormat:         {"data format error", false},
	ErrcodeInvalidSignature:   {"invalid signature", false},
}

// Errmsg returns WeChat's text for errcode, without the rid suffix.
func Errmsg(errcode int) string {
	if m, ok := errmsgs[errcode]; ok {
		return m.text
	}
	return "mockwechat fault errcode " + strconv.Itoa(errcode)
}

// errmsgWithRID is what goes into the errmsg field: the text and the rid.
func errmsgWithRID(errcode int, rid string) string {
	m, ok := errmsgs[errcode]
	if !ok {
		return Errmsg(errcode) + " rid: " + rid
	}
	if m.comma {
		return m.text + ", rid: " + rid
	}
	return m.text + " rid: " + rid
}

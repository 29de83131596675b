//go:build race

package jsclient_test

const raceEnabled = true

//go:build !race

package jsclient_test

const raceEnabled = false

@backend
Feature: the backend signals expired and invalid tokens, in any style
  SPEC §1 "swallowed expiry": a backend that answers an expired token with an
  empty success ("no orders") gives the client no reason to refresh. The
  backend check needs nothing but the style's routes and signals, so this
  runs in every style and against a backend under test (--backend URL
  --style FILE) too. Such a backend sees an expired token only if it serves
  POST /__admin/expire or its access tokens live at most 10 seconds: start it
  with a short lifetime for the check (docs/styles.md, "Gate your backend").

  Scenario: tampered, garbage, missing and expired tokens never get a success
    Then the backend answers bad and expired tokens with its expired or invalid signal

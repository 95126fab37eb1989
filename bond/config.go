package bond

import (
	"log/slog"

	"github.com/bidroom/bidroom/configs"
)

// FromConfig returns the Checker the bond settings call for: with bond.url empty, the
// registration data (registered; nil means no bidder registered a bond, so every bidder is
// Missing); otherwise the bond system at bond.url, which then alone decides. logger gets the
// HTTP checker's warnings (nil: slog.Default()).
func FromConfig(c configs.Bond, registered Registered, logger *slog.Logger) (Checker, error) {
	if c.URL == "" {
		return registered, nil
	}
	return NewHTTPChecker(HTTPConfig{URL: c.URL, Token: c.Token, Timeout: c.Timeout, Logger: logger})
}

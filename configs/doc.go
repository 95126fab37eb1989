// Package configs owns Bidroom's typed server configuration: its defaults, loading it from YAML then
// BIDROOM_* variables, and validating it. It does not act on settings (secrets, stores, flags); cmd/ does.
package configs

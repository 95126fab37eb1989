// Package redistest gives tests a real Redis: the server named by BIDROOM_TEST_REDIS_URL, or a
// throwaway redis-server on loopback, with key prefixes to keep tests apart. It is for tests only.
package redistest

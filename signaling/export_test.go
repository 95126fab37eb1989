package signaling

// SetFanOutChunk lets a test make every broadcast parallel; it returns
// the function that restores the default.
func SetFanOutChunk(n int) (restore func()) {
	old := fanOutChunk
	fanOutChunk = n
	return func() { fanOutChunk = old }
}

//go:build !linux

package media

// gsoSupported: segmentation offload is used on Linux only.
const gsoSupported = false

var gsoOOBSize = 0

func putGSO(oob []byte, _ int) []byte { return oob[:0] }

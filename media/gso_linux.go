package media

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSupported: Linux segments one large UDP send into datagrams of a
// given size (UDP_SEGMENT, since 4.18); an older kernel refuses it and the
// socket falls back to one datagram per message.
const gsoSupported = true

// gsoOOBSize is the room one UDP_SEGMENT control message takes.
var gsoOOBSize = unix.CmsgSpace(2)

// putGSO writes a UDP_SEGMENT control message for segments of size bytes
// into oob, which has gsoOOBSize bytes, and returns it.
func putGSO(oob []byte, size int) []byte {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	return oob[:gsoOOBSize]
}

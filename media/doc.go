// Package media is Bidroom's WebRTC SFU: rooms of feeds that publishers
// (OBS or a browser over WHIP) fill and viewers (WHEP) receive, RTP forwarded
// without transcoding from one shared history per track.
//
// It owns the peer connections, the muxed UDP socket, fast start, NACK
// repair, keyframe requests, recording hand-off and media stats. It does not
// decide who may do what in a session (the caller's Authorizer does) and it
// keeps no state of the opening itself.
package media

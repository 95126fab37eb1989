// Package recorder writes one received RTP track to an archive file (IVF, Annex-B H.264 or Ogg/Opus) with its SM3 digest.
// It owns depacketizing, loss handling and crash-safe writing; it does not receive, reorder or retransmit packets.
package recorder

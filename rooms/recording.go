package rooms

import "time"

// Recording is one finished media track of a room, for the archive: where
// it is and the SM3 digest that binds the file to the log (R14, R17). Every
// room kind with media files its recordings with record_media.
type Recording struct {
	Hall      string    `json:"hall"`
	Feed      string    `json:"feed"`
	Publisher string    `json:"publisher"`
	Kind      string    `json:"kind"`
	Codec     string    `json:"codec"`
	File      string    `json:"file"` // name under the recordings directory
	Bytes     int64     `json:"bytes"`
	SM3       string    `json:"sm3"`
	Packets   uint64    `json:"packets"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	Dropped   uint64    `json:"dropped,omitempty"` // packets the recorder could not keep up with
	// Recovered: the server recording it stopped (a crash, a kill) and the
	// next start completed the file, up to its last write to disk.
	Recovered bool `json:"recovered,omitempty"`
}

// decideRecording checks a record_media command, which only the server
// sends, and returns the recording it files.
func decideRecording(actor Actor, cmd Command) (Recording, error) {
	if err := requireRole(actor, "record media", RoleSystem); err != nil {
		return Recording{}, err
	}
	var r Recording
	if err := decodeData(cmd.Data, &r); err != nil {
		return Recording{}, err
	}
	if len(r.SM3) != 64 || r.File == "" || r.Bytes < 0 {
		return Recording{}, refuse(CodeInvalid, "a recording needs a file, its size and its SM3 digest")
	}
	return r, nil
}

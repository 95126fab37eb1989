package media

import "github.com/bidroom/bidroom/rooms"

// Allowed reports whether a role may publish (or view) in a hall. The
// opening is the host's (or OBS's) to everyone in the session; the sealed
// evaluation call is the experts' own, watched by supervisors — never seen by
// bidders, whatever their token says.
func Allowed(hall Hall, role rooms.Role, publish bool) bool {
	switch hall {
	case HallOpening:
		if publish {
			return role == rooms.RoleHost || role == rooms.RoleAdmin
		}
		return role == rooms.RoleHost || role == rooms.RoleAdmin || role == rooms.RoleSupervisor || role == rooms.RoleBidder
	case HallEvaluation:
		if publish {
			return role == rooms.RoleExpert
		}
		return role == rooms.RoleExpert || role == rooms.RoleSupervisor || role == rooms.RoleAdmin
	}
	return false
}

// ParseHall returns the hall named s ("" is the opening).
func ParseHall(s string) (Hall, bool) {
	switch Hall(s) {
	case "", HallOpening:
		return HallOpening, true
	case HallEvaluation:
		return HallEvaluation, true
	}
	return "", false
}

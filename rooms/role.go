package rooms

import (
	"fmt"
	"slices"
)

// Role is what a participant is in a room; it decides which commands they may
// issue and which events they see.
type Role string

// The roles of Bidroom. System is the server itself (timers, presence).
const (
	RoleBidder     Role = "bidder"
	RoleHost       Role = "host"
	RoleSupervisor Role = "supervisor"
	RoleExpert     Role = "expert"
	RoleAdmin      Role = "admin"
	RoleSystem     Role = "system"
)

// ParseRole returns the role named s, or an error for an unknown name.
// The system role cannot be parsed: no token may claim it.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleBidder, RoleHost, RoleSupervisor, RoleExpert, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want bidder, host, supervisor, expert or admin)", s)
}

// IsStaff reports whether the role runs or oversees a session and so sees
// every event of it.
func (r Role) IsStaff() bool {
	return r == RoleHost || r == RoleSupervisor || r == RoleAdmin || r == RoleSystem
}

// Actor is who issued a command: a subject (user id) acting in a role.
type Actor struct {
	Sub  string `json:"sub"`
	Role Role   `json:"role"`
}

// SystemActor is the server acting on its own (timers, presence).
var SystemActor = Actor{Sub: "system", Role: RoleSystem}

// Visibility says who may see an event. With both lists empty the event is
// public; otherwise it is visible to the listed roles and the listed subjects.
type Visibility struct {
	Roles    []Role   `json:"roles,omitempty"`
	Subjects []string `json:"subs,omitempty"`
}

// Public is the visibility of an event everyone in the room sees.
func Public() Visibility { return Visibility{} }

// Staff is the visibility of an event only hosts, supervisors and admins
// see, plus the given subjects (e.g. the bidder the event is about).
func Staff(subjects ...string) Visibility {
	return Visibility{Roles: []Role{RoleHost, RoleSupervisor, RoleAdmin}, Subjects: subjects}
}

// IsPublic reports whether everyone sees the event.
func (v Visibility) IsPublic() bool { return len(v.Roles) == 0 && len(v.Subjects) == 0 }

// VisibleTo reports whether the viewer may see an event with this visibility.
func (v Visibility) VisibleTo(viewer Actor) bool {
	if v.IsPublic() || viewer.Role == RoleSystem {
		return true
	}
	return slices.Contains(v.Roles, viewer.Role) || slices.Contains(v.Subjects, viewer.Sub)
}

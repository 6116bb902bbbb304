package httpapi

// Parked returns how many waits are parked off net/http now (park.go).
func (s *Server) Parked() int { return int(s.parking.n.Load()) }

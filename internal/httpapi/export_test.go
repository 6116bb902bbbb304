package httpapi

// Parked returns how many waits and event streams are parked off
// net/http now (park.go, stream.go).
func (s *Server) Parked() int { return int(s.parking.n.Load()) }

// SetCrowdedGrace sets how many waits may spend parkAfter on net/http's
// goroutine at once before the next parks at once (crowdedGrace).
func (s *Server) SetCrowdedGrace(n int) { s.parking.crowd = int64(n) }

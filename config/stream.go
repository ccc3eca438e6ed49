package config

// Stream configures the H.264 encoder and live view. (Owned by the live-view work: fill in.)
type Stream struct{}

func defaultStream() Stream { return Stream{} }

func (s *Stream) validate(v *validator) {}

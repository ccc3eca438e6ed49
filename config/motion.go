package config

// Motion configures motion detection. (Owned by the motion work: fill in.)
type Motion struct {
	Zone []Region `toml:"zone"`
}

func defaultMotion() Motion { return Motion{} }

func (m *Motion) validate(v *validator) {
	checkRegions(v, "motion.zone", m.Zone, true)
}

package haproxy

// AtLeast reports whether the HAProxy behind the socket is at least
// major.minor (false when its version string cannot be read).
func (i Info) AtLeast(major, minor int) bool {
	return versionAtLeast(i.Version, [2]int{major, minor})
}

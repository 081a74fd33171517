package tensor

//go:noescape
func adamWAVX2(p, m, v, gr *float32, n int, c *AdamW)

// adamWFast runs the vector kernel on the longest prefix that is a
// multiple of 8 and returns its length.
func adamWFast(p, m, v, g []float32, c *AdamW) int {
	n := len(p) &^ 7
	if n == 0 || Kernel == "generic" {
		return 0
	}
	adamWAVX2(&p[0], &m[0], &v[0], &g[0], n, c)
	return n
}

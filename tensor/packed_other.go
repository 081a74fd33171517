//go:build !amd64

package tensor

// intLevel names the integer kernels in use: none without amd64.
var intLevel = ""

func intLevels() []string { return []string{""} }

func intKernels() bool { return false }

func quantizeGroup(rec []byte, x []float32, n int) { quantizeGroupGo(rec, x, n) }

// mulIntRows is never reached without the amd64 kernels (useInt is false);
// it computes the same result with the portable twin.
func (m *Mat) mulIntRows(y []float32, a *pkActs, n, lo, hi int, _ *Scratch) {
	tok := a.groups * pkRecBytes
	for r := lo; r < hi; r++ {
		for t := 0; t < n; t++ {
			y[t*m.Rows+r] = packedDot(m.Type, m.pk.meta, m.pk.data[r*m.pk.stride:(r+1)*m.pk.stride], a.buf[t*tok:(t+1)*tok], m.pk.groups)
		}
	}
}

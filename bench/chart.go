package bench

import (
	"fmt"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// SVG draws the comparison as a grouped bar chart: for every category
// (and overall), each method's speed-up over plain decoding, with the
// line at 1x where a method only breaks even. Drawn with gonum/plot, a
// maintained pure-Go plotting library whose SVG back end needs no cgo.
func (r *CompareResult) SVG(w io.Writer, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "speed-up over plain decoding (x)"
	p.Y.Min = 0
	var methods []string
	for _, m := range r.Methods {
		if m != "none" {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		return fmt.Errorf("no method besides plain decoding to chart")
	}
	width := vg.Points(min(18, 90/float64(len(methods))))
	top := 1.0
	for i, m := range methods {
		vals := make(plotter.Values, len(r.Categories))
		for j, cat := range r.Categories {
			vals[j] = r.Speedup(cat, m)
			top = max(top, vals[j])
		}
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		b.LineStyle.Width = vg.Length(0)
		b.Color = plotutil.Color(i)
		b.Offset = width * vg.Length(float64(i)-float64(len(methods)-1)/2)
		p.Add(b)
		p.Legend.Add(m, b)
	}
	// The break-even line across the whole width.
	n := float64(len(r.Categories))
	even, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: n - 0.5, Y: 1}})
	if err != nil {
		return err
	}
	even.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(even)
	p.Y.Max = top * 1.45 // room for the legend above the bars
	p.Legend.Top = true
	p.NominalX(r.Categories...)
	wt, err := p.WriterTo(vg.Length(max(6, 1.1*float64(len(r.Categories))))*vg.Inch, 4*vg.Inch, "svg")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

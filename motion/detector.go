package motion

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"doorbell/events"
	_ "doorbell/internal/cvbuild" // the OpenCV build tags
)

// MaxBoxes is the most changed regions a result reports, largest first.
const MaxBoxes = 16

// black is the Y value of black in video range, the level a gain change
// scales brightness from.
const black = 16

// relearnGap is the longest pause between frames after which the background
// still holds: after a longer one (a camera restart), anything may have changed.
const relearnGap = 10 * time.Second

// ghostEvery is how often the detector looks for ghosts: often enough that
// one ends an event only a little late, rarely enough to cost next to nothing.
const ghostEvery = 500 * time.Millisecond

// maxBlobs is the most changed regions the ghost check tells apart.
const maxBlobs = 64

// ErrFrameSize is returned for a picture of another size than the detector's.
var ErrFrameSize = errors.New("motion: the picture's size differs from the detector's; make a new detector for the new size")

// Result is what the detector saw in one frame. It belongs to the detector
// and is overwritten by the next frame.
type Result struct {
	Motion    bool          // some zone changed by at least MinArea
	Fraction  float64       // the largest share of any one zone that changed
	Zones     []float64     // share of each zone that changed, in ZoneNames order
	Hit       []bool        // which zones changed by at least MinArea
	Changed   float64       // share of the unmasked picture that changed, zones or not
	Gain      float64       // brightness of this frame relative to the background
	Relearned bool          // the background was learnt anew from this frame (first frame, lighting change, gap)
	Took      time.Duration // time spent in Detect, and in Boxes if asked

	det   *Detector // finds the boxes when asked
	found bool      // boxes holds this frame's
	boxes []events.Box
}

// Boxes are the changed regions inside the zones, normalised 0..1, largest
// first. They are found when first asked for, until the next frame: joining
// and tracing the changed pixels is a fifth of the detector's work, and only
// the frames that raise an event's peak need them.
func (r *Result) Boxes() []events.Box {
	if !r.found {
		r.found = true
		if r.det != nil && r.Fraction > 0 {
			start := time.Now()
			r.boxes = r.det.findBoxes()
			r.Took += time.Since(start)
		}
	}
	return r.boxes
}

// Detector finds changed regions in the luma (Y) plane of frames of one size.
//
// Per frame: take every other row if the picture has rows to spare → scale
// down (area average, then linear) → Gaussian blur → compare with a
// running-average background, scaled by the frame's overall brightness →
// threshold → open (drop specks) → count per zone; asked for its boxes, it
// closes (joins a body's parts) and finds the contours' boxes. The
// background follows the still picture with the LearnTime time constant, and
// changed pixels only with the much longer AbsorbTime, so a visitor standing
// still at the door stays visible while a parcel left there fades into the
// background. Twice a second, changed regions with no edges of their own are
// found to be ghosts of something that left, and become background again. A
// change of most of the picture at once, or a jump of overall brightness, is
// lighting, not motion: the background is learnt again from that frame.
// Slower brightness changes are divided out.
//
// Every Mat is made once, so Detect allocates nothing. A Detector is used by
// one goroutine at a time; Close releases its Mats.
type Detector struct {
	cfg      Config
	w, h     int  // input size
	sw, sh   int  // processing size
	evenRows bool // only rows 0, 2, 4, … are read: see readsEvenRows

	full     gocv.Mat // the input Y plane, or its even rows
	fullData []byte   // full's pixels, for copying frames in
	crop     gocv.Mat // a view of full without an odd last column or row, if it has one
	cropped  bool
	halves   []gocv.Mat // full halved by area averaging, step by step
	small    gocv.Mat   // scaled down to the processing size, then blurred in place
	bg       gocv.Mat   // background, float32
	bg8      gocv.Mat   // background scaled to this frame's brightness
	plain8   gocv.Mat   // background as it is, in bytes, for its mean
	diff     gocv.Mat
	fg       gocv.Mat // changed pixels (thresholded, then opened)
	joined   gocv.Mat // fg closed, so a body's parts form one region
	wide     gocv.Mat // fg dilated: pixels the background learns slowly
	still    gocv.Mat // not wide: pixels the background learns fast
	gainMask gocv.Mat // unmasked pixels that were still in the last frame
	tmp      gocv.Mat
	hier     gocv.Mat
	// For the ghost check:
	labels  gocv.Mat // blobs of joined, 16-bit labels
	band    gocv.Mat // each blob's inner edge
	edgeNow gocv.Mat // local contrast of the frame
	edgeBg  gocv.Mat // local contrast of the background
	ghosts  gocv.Mat // 255 on ghost blobs
	smallF  gocv.Mat // the frame in float, to heal the background with
	kOpen   gocv.Mat
	kClose  gocv.Mat
	kWide   gocv.Mat

	valid     gocv.Mat   // 255 where no privacy mask is
	union     gocv.Mat   // 255 inside some zone, outside the masks
	zones     []gocv.Mat // per zone, outside the masks
	zoneArea  []int
	validArea int
	wholeZone bool // the only zone is every unmasked pixel: no per-zone masking needed
	minBox    int  // smallest box reported, in pixels at the processing size

	started    bool
	last       time.Time
	nextGhosts time.Time // when to look for ghosts next
	blobNow    [maxBlobs + 1]int
	blobBg     [maxBlobs + 1]int
	blobEdge   [maxBlobs + 1]int
	ghostBlob  [maxBlobs + 1]bool
	healed     int // ghosts removed, for tests
	traced     int // frames whose boxes were found, for tests
	res        Result
	boxes      [MaxBoxes]events.Box
	boxArea    [MaxBoxes]int

	debug *debugDrawing // made on first Annotate
}

// ProcessingSize is the size frames of w x h are scaled to for a processing width.
func ProcessingSize(w, h, width int) (int, int) {
	if width >= w {
		return w, h
	}
	sh := int(math.Round(float64(h) * float64(width) / float64(w)))
	return width, max(sh, 1)
}

// readsEvenRows reports whether the detector reads only the even rows of
// w x h pictures: when half of them are still as many as the processing
// height. The odd rows would only be averaged away, and not reading them
// halves what motion-scan's decoder pipes over (ffmpeg picks the rows by
// stride, without a copy) and what the daemon copies in. The pixels are
// then twice as tall as wide until the last, linear, step to the processing
// size, which shrinks the width by up to 4 and the height by under 2; the
// blur after it smooths what its two taps skip.
func readsEvenRows(w, h, width int) bool {
	_, sh := ProcessingSize(w, h, width)
	return h/2 >= sh
}

// halvings is how many times w x h can be halved exactly without going
// below the processing width, or below minHeight rows. OpenCV's area resize
// is fast only for whole factors; the last step to the processing size is
// linear, and the halvings before it have averaged the noise a linear step
// alone would alias. An odd last column or row is dropped before the first
// halving; after that, an odd size ends the halving.
func halvings(w, h, width, minHeight int) int {
	n := 0
	for w/2 >= width && w/2 >= 1 && h/2 >= max(minHeight, 1) && (n == 0 || w%2 == 0 && h%2 == 0) {
		w, h = w/2, h/2
		n++
	}
	return n
}

// oneThread makes OpenCV run its functions on the calling thread. At the
// processing size each call is a few microseconds of work, and OpenCV's
// thread pool (TBB) spent more waking and yielding its workers than it
// saved: a tenth of motion-scan's CPU went to the scheduler.
var oneThread = sync.OnceFunc(func() { gocv.SetNumThreads(1) })

// NewDetector makes a detector for w x h pictures.
func NewDetector(cfg Config, w, h int) (*Detector, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	oneThread()
	if w < 2 || h < 2 {
		return nil, fmt.Errorf("motion: a %dx%d picture is too small; use at least 2x2 pixels", w, h)
	}
	d := &Detector{cfg: cfg, w: w, h: h, evenRows: readsEvenRows(w, h, cfg.Width)}
	d.sw, d.sh = ProcessingSize(w, h, cfg.Width)
	rows, minHeight := h, 1
	if d.evenRows {
		rows, minHeight = h/2, d.sh
	}
	d.full = gocv.NewMatWithSize(rows, w, gocv.MatTypeCV8U)
	var err error
	if d.fullData, err = d.full.DataPtrUint8(); err != nil {
		d.full.Close()
		return nil, err
	}
	for _, m := range []*gocv.Mat{&d.small, &d.bg, &d.bg8, &d.plain8, &d.diff, &d.still, &d.tmp, &d.hier,
		&d.labels, &d.band, &d.edgeNow, &d.edgeBg, &d.smallF} {
		*m = gocv.NewMat()
	}
	// Masks that are read before a frame writes them start empty.
	for _, m := range []*gocv.Mat{&d.fg, &d.joined, &d.wide, &d.ghosts} {
		*m = gocv.Zeros(d.sh, d.sw, gocv.MatTypeCV8U)
	}
	if n := halvings(w, rows, d.sw, minHeight); n > 0 {
		if w%2 != 0 || rows%2 != 0 {
			d.crop = d.full.Region(image.Rect(0, 0, w&^1, rows&^1)) // shares full's pixels
			d.cropped = true
		}
		for i := 0; i < n; i++ {
			d.halves = append(d.halves, gocv.NewMat())
		}
	}
	// Rectangles: the same job as round kernels here, at half the cost.
	d.kOpen = gocv.GetStructuringElement(gocv.MorphRect, image.Pt(3, 3))
	d.kClose = gocv.GetStructuringElement(gocv.MorphRect, image.Pt(9, 9))
	d.kWide = gocv.GetStructuringElement(gocv.MorphRect, image.Pt(7, 7))

	// Masks: privacy first, then each zone minus the privacy masks.
	d.valid = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), d.sh, d.sw, gocv.MatTypeCV8U)
	if len(cfg.Masks) > 0 {
		d.fillPolys(&d.valid, cfg.Masks, 0)
	}
	d.validArea = gocv.CountNonZero(d.valid)
	d.gainMask = d.valid.Clone()
	d.union = gocv.NewMatWithSize(d.sh, d.sw, gocv.MatTypeCV8U)
	d.union.SetTo(gocv.NewScalar(0, 0, 0, 0))
	zs := cfg.zones()
	minArea := d.sw * d.sh
	for _, z := range zs {
		m := gocv.NewMatWithSize(d.sh, d.sw, gocv.MatTypeCV8U)
		m.SetTo(gocv.NewScalar(0, 0, 0, 0))
		d.fillPolys(&m, [][][2]float64{z.Polygon}, 255)
		gocv.BitwiseAnd(m, d.valid, &m)
		gocv.BitwiseOr(d.union, m, &d.union)
		area := gocv.CountNonZero(m)
		d.zones = append(d.zones, m)
		d.zoneArea = append(d.zoneArea, area)
		if area == 0 {
			d.Close()
			if d.validArea == 0 {
				return nil, errors.New("motion: the privacy masks cover the whole picture, so no motion can be seen; make the masks smaller")
			}
			return nil, fmt.Errorf("motion: zone %q lies wholly under privacy masks or is too small to hold a pixel at %dx%d; move it or make it bigger", z.Name, d.sw, d.sh)
		}
		minArea = min(minArea, area)
	}
	d.wholeZone = len(zs) == 1 && d.zoneArea[0] == d.validArea
	// Specks far below the motion threshold are not worth a box.
	d.minBox = max(4, int(cfg.MinArea*float64(minArea)/4))
	n := len(zs)
	d.res.Zones = make([]float64, n)
	d.res.Hit = make([]bool, n)
	d.res.det = d
	return d, nil
}

// fillPolys paints normalised polygons into m with value v, at 1/16 pixel
// precision, a pixel counting when its centre is inside or on the edge.
func (d *Detector) fillPolys(m *gocv.Mat, polys [][][2]float64, v uint8) {
	const shift = 4
	pts := make([][]image.Point, 0, len(polys))
	for _, poly := range polys {
		p := make([]image.Point, len(poly))
		for i, c := range poly {
			p[i] = image.Pt(int(math.Round((c[0]*float64(d.sw)-0.5)*(1<<shift))),
				int(math.Round((c[1]*float64(d.sh)-0.5)*(1<<shift))))
		}
		pts = append(pts, p)
	}
	pv := gocv.NewPointsVectorFromPoints(pts)
	defer pv.Close()
	gocv.FillPolyWithParams(m, pv, color.RGBA{v, v, v, 0}, gocv.Line8, shift, image.Point{})
}

// Size is the picture size the detector takes, and the size it works at.
func (d *Detector) Size() (w, h, sw, sh int) { return d.w, d.h, d.sw, d.sh }

// ZoneNames lists the zones in the order results report them.
func (d *Detector) ZoneNames() []string { return d.cfg.ZoneNames() }

// Detect looks at the Y plane of a frame captured at the given time. y
// holds w*h bytes, w a row. The result is valid until the next call.
func (d *Detector) Detect(y []byte, at time.Time) (*Result, error) {
	if len(y) != d.w*d.h {
		return nil, ErrFrameSize
	}
	start := time.Now()
	if d.evenRows {
		for r, w := 0, d.w; r < d.h/2; r++ {
			copy(d.fullData[r*w:(r+1)*w], y[2*r*w:])
		}
	} else {
		copy(d.fullData, y)
	}
	return d.detect(at, start), nil
}

// Input is the detector's own copy of the picture: w*h bytes of Y, or if
// EvenRows, rows 0, 2, 4, … of it, w*(h/2) bytes. Fill it and call
// DetectInput to save copying each frame in (motion-scan reads the
// decoder's pipe straight into it). It is valid until Close.
func (d *Detector) Input() []byte { return d.fullData }

// EvenRows reports whether the detector reads only the even rows of each
// picture, so that Input holds those alone.
func (d *Detector) EvenRows() bool { return d.evenRows }

// DetectInput is Detect of the picture in Input.
func (d *Detector) DetectInput(at time.Time) *Result {
	return d.detect(at, time.Now())
}

func (d *Detector) detect(at, start time.Time) *Result {
	r := &d.res
	r.Motion, r.Fraction, r.Changed, r.Gain, r.Relearned = false, 0, 0, 1, false
	clear(r.Zones)
	clear(r.Hit)
	r.found, r.boxes = false, nil

	src := d.full
	if d.cropped {
		src = d.crop
	}
	for i := range d.halves {
		gocv.Resize(src, &d.halves[i], image.Pt(src.Cols()/2, src.Rows()/2), 0, 0, gocv.InterpolationArea)
		src = d.halves[i]
	}
	if src.Cols() == d.sw && src.Rows() == d.sh {
		src.CopyTo(&d.small)
	} else {
		gocv.Resize(src, &d.small, image.Pt(d.sw, d.sh), 0, 0, gocv.InterpolationLinear)
	}
	if d.cfg.Blur > 1 {
		gocv.GaussianBlur(d.small, &d.small, image.Pt(d.cfg.Blur, d.cfg.Blur), 0, 0, gocv.BorderReplicate)
	}

	dt := at.Sub(d.last)
	if !d.started || dt < 0 || dt > relearnGap {
		// Nothing to compare with, or a gap in which anything may have changed.
		d.relearn(at)
		r.Took = time.Since(start)
		return r
	}
	d.last = at

	// Overall brightness against the background, over pixels that were still:
	// a lamp or the camera's exposure scales every pixel from black alike.
	// (Masked means by AND and sum: OpenCV's masked mean is ten times slower.)
	gainMask := d.gainMask
	n := gocv.CountNonZero(gainMask)
	if n < d.validArea/10 {
		gainMask, n = d.valid, d.validArea
	}
	gain := 1.0
	if n > 0 {
		gocv.BitwiseAnd(d.small, gainMask, &d.tmp)
		sNow := d.tmp.Sum().Val1
		d.bg.ConvertTo(&d.plain8, gocv.MatTypeCV8U)
		gocv.BitwiseAnd(d.plain8, gainMask, &d.tmp)
		sBg := d.tmp.Sum().Val1
		if mBg := sBg / float64(n); mBg-black >= 4 {
			gain = max(sNow/float64(n)-black, 0.5) / (mBg - black)
		}
	}
	r.Gain = gain
	d.bg.ConvertToWithParams(&d.bg8, gocv.MatTypeCV8U, float32(gain), float32(black*(1-gain)))

	gocv.AbsDiff(d.small, d.bg8, &d.diff)
	if dg := math.Abs(gain - 1); dg > 0.02 {
		// While the light changes, scaling predicts the picture only so well
		// (colours clip one by one, light falls unevenly): a pixel must change
		// by the threshold plus the light change's share of its brightness.
		d.bg8.ConvertToWithParams(&d.tmp, gocv.MatTypeCV8U, float32(dg), float32(d.cfg.Threshold))
		gocv.Compare(d.diff, d.tmp, &d.fg, gocv.CompareGT)
	} else {
		gocv.Threshold(d.diff, &d.fg, float32(d.cfg.Threshold), 255, gocv.ThresholdBinary)
	}
	gocv.BitwiseAnd(d.fg, d.valid, &d.fg)
	if d.validArea > 0 {
		r.Changed = float64(gocv.CountNonZero(d.fg)) / float64(d.validArea)
	}
	if r.Changed > d.cfg.LightChange || math.Abs(gain-1) > d.cfg.BrightnessJump {
		d.relearn(at)
		r.Took = time.Since(start)
		return r
	}

	gocv.MorphologyEx(d.fg, &d.fg, gocv.MorphOpen, d.kOpen)
	if !at.Before(d.nextGhosts) {
		d.nextGhosts = at.Add(ghostEvery)
		d.removeGhosts()
	}
	gocv.Dilate(d.fg, &d.wide, d.kWide)

	// Learn: the still picture quickly, what changed slowly.
	gocv.BitwiseNot(d.wide, &d.still)
	gocv.AccumulatedWeightedWithMask(d.small, &d.bg, rate(dt, d.cfg.LearnTime), d.still)
	gocv.AccumulatedWeightedWithMask(d.small, &d.bg, rate(dt, d.cfg.AbsorbTime), d.wide)
	gocv.BitwiseAnd(d.still, d.valid, &d.gainMask)

	for i := range d.zones {
		var n int
		if d.wholeZone {
			n = gocv.CountNonZero(d.fg)
		} else {
			gocv.BitwiseAnd(d.fg, d.zones[i], &d.tmp)
			n = gocv.CountNonZero(d.tmp)
		}
		f := float64(n) / float64(d.zoneArea[i])
		r.Zones[i] = f
		r.Fraction = max(r.Fraction, f)
		if f >= d.cfg.MinArea && n > 0 {
			r.Hit[i] = true
			r.Motion = true
		}
	}
	r.Took = time.Since(start)
	return r
}

// rate is the running average's weight for a frame dt after the last, for
// time constant tau: the same learning per second at any frame rate.
func rate(dt, tau time.Duration) float64 {
	return 1 - math.Exp(-dt.Seconds()/tau.Seconds())
}

func (d *Detector) relearn(at time.Time) {
	d.small.ConvertTo(&d.bg, gocv.MatTypeCV32F)
	d.valid.CopyTo(&d.gainMask)
	d.fg.SetTo(gocv.NewScalar(0, 0, 0, 0))
	d.started = true
	d.last = at
	d.res.Relearned = true
}

// removeGhosts finds changed regions that are ghosts, and makes them
// background again. A ghost is what something that was part of the
// background (a passer-by in the frame the background was learnt from, a
// parcel taken away) leaves behind when it goes: the pixels differ from the
// background, but nothing is there. Pixels cannot tell a ghost from a visitor
// standing still; edges can. Round a real object the frame has edges, where
// it meets what is behind it; round a ghost it is the background that has
// them, and the frame is smooth.
func (d *Detector) removeGhosts() {
	if gocv.CountNonZero(d.fg) == 0 {
		return
	}
	gocv.MorphologyEx(d.fg, &d.joined, gocv.MorphClose, d.kClose)
	n := gocv.ConnectedComponentsWithParams(d.joined, &d.labels, 8, gocv.MatTypeCV16U, gocv.CCL_DEFAULT)
	gocv.Erode(d.joined, &d.band, d.kOpen)
	gocv.BitwiseXor(d.joined, d.band, &d.band) // each blob's inner edge
	gocv.MorphologyEx(d.small, &d.edgeNow, gocv.MorphGradient, d.kOpen)
	gocv.MorphologyEx(d.bg8, &d.edgeBg, gocv.MorphGradient, d.kOpen)
	labels, err1 := d.labels.DataPtrUint16()
	band, err2 := d.band.DataPtrUint8()
	now, err3 := d.edgeNow.DataPtrUint8()
	bg, err4 := d.edgeBg.DataPtrUint8()
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return // not continuous: cannot happen for Mats made here
	}
	clear(d.blobNow[:])
	clear(d.blobBg[:])
	clear(d.blobEdge[:])
	for i, b := range band {
		if b == 0 {
			continue
		}
		l := min(int(labels[i]), maxBlobs) // blobs past maxBlobs share a tally, and stay
		d.blobNow[l] += int(now[i])
		d.blobBg[l] += int(bg[i])
		d.blobEdge[l]++
	}
	found := false
	for l := 1; l < min(n, maxBlobs); l++ {
		d.ghostBlob[l] = d.blobEdge[l] >= 8 && 2*d.blobNow[l] < d.blobBg[l]
		found = found || d.ghostBlob[l]
	}
	if !found {
		return
	}
	ghosts, err := d.ghosts.DataPtrUint8()
	if err != nil {
		return
	}
	for i, l := range labels {
		ghosts[i] = 0
		if l > 0 && int(l) < min(n, maxBlobs) && d.ghostBlob[l] {
			ghosts[i] = 255
		}
	}
	d.healed++
	d.small.ConvertTo(&d.smallF, gocv.MatTypeCV32F)
	d.smallF.CopyToWithMask(&d.bg, d.ghosts)
	gocv.BitwiseNot(d.ghosts, &d.tmp)
	gocv.BitwiseAnd(d.fg, d.tmp, &d.fg)
}

// findBoxes finds the boxes of the changed regions inside the zones, closed
// first so that a body's parts make one box, in the last frame's foreground.
func (d *Detector) findBoxes() []events.Box {
	gocv.MorphologyEx(d.fg, &d.joined, gocv.MorphClose, d.kClose)
	if d.wholeZone {
		d.joined.CopyTo(&d.tmp)
	} else {
		gocv.BitwiseAnd(d.joined, d.union, &d.tmp)
	}
	cs := gocv.FindContoursWithParams(d.tmp, &d.hier, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer cs.Close()
	d.traced++
	n := 0
	for i := 0; i < cs.Size(); i++ {
		rc := gocv.BoundingRect(cs.At(i))
		area := rc.Dx() * rc.Dy()
		if area < d.minBox {
			continue
		}
		// Insert by area into the fixed array, largest first.
		j := min(n, MaxBoxes-1)
		if n == MaxBoxes && area <= d.boxArea[j] {
			continue
		}
		for ; j > 0 && d.boxArea[j-1] < area; j-- {
			d.boxes[j], d.boxArea[j] = d.boxes[j-1], d.boxArea[j-1]
		}
		d.boxes[j] = events.Box{
			float64(rc.Min.X) / float64(d.sw), float64(rc.Min.Y) / float64(d.sh),
			float64(rc.Max.X) / float64(d.sw), float64(rc.Max.Y) / float64(d.sh),
		}
		d.boxArea[j] = area
		n = min(n+1, MaxBoxes)
	}
	return d.boxes[:n]
}

// Close releases the detector's Mats.
func (d *Detector) Close() error {
	for i := range d.halves {
		d.halves[i].Close()
	}
	d.halves = nil
	for _, m := range []*gocv.Mat{&d.crop, &d.full, &d.small, &d.bg, &d.bg8, &d.plain8, &d.diff, &d.fg, &d.joined, &d.wide,
		&d.still, &d.gainMask, &d.tmp, &d.hier, &d.labels, &d.band, &d.edgeNow, &d.edgeBg, &d.ghosts, &d.smallF, &d.kOpen, &d.kClose, &d.kWide, &d.valid, &d.union} {
		m.Close() // closing a Mat twice, or one never made, is harmless
	}
	for i := range d.zones {
		d.zones[i].Close()
	}
	d.zones = nil
	d.fullData = nil
	if d.debug != nil {
		d.debug.close()
		d.debug = nil
	}
	return nil
}

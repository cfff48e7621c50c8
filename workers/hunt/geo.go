package hunt

import "math"

// earthRadiusMeters is the Earth's mean radius (IUGG), the sphere on which
// distances are measured.
const earthRadiusMeters = 6_371_008.8

// distanceMeters is the great-circle distance between two points given in
// degrees, by the haversine formula.
func distanceMeters(lat1, lon1, lat2, lon2 float64) float64 {
	phi1, phi2 := radians(lat1), radians(lat2)
	dPhi, dLambda := phi2-phi1, radians(lon2-lon1)
	h := hav(dPhi) + math.Cos(phi1)*math.Cos(phi2)*hav(dLambda)
	return 2 * earthRadiusMeters * math.Asin(math.Sqrt(min(1, h)))
}

// hav is the haversine of an angle in radians.
func hav(theta float64) float64 {
	s := math.Sin(theta / 2)
	return s * s
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }

// validPoint reports whether latitude and longitude are degrees on the globe
// (NaN is not).
func validPoint(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

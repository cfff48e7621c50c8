package regclient

import (
	"context"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
)

// CheckCompatibility implements Registrar: it asks the registry why a
// schema may not follow a subject's version (-1: the latest, 0: the
// versions Register compares with); nothing when it may.
func (r *Remote) CheckCompatibility(ctx context.Context, subject string, version int, in SchemaInput) ([]string, error) {
	p, err := InputProto(in)
	if err != nil {
		return nil, err
	}
	req := &registryv1.CheckCompatibilityRequest{Subject: subject, Schema: p}
	switch {
	case version == -1:
		req.Against = &registryv1.CheckCompatibilityRequest_Latest{Latest: true}
	case version == 0:
		req.Against = &registryv1.CheckCompatibilityRequest_AllVersions{AllVersions: true}
	default:
		req.Against = &registryv1.CheckCompatibilityRequest_Version{Version: int32(version)}
	}
	resp, err := r.api.CheckCompatibility(ctx, req)
	if err != nil {
		return nil, remoteError(err)
	}
	return resp.GetMessages(), nil
}

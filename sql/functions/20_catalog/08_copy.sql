/*
 * course.copy: the next term. One transaction, one statement per table (set-based, however many
 * rows): the course, its modules and their prerequisites, lessons (content included), quizzes with
 * their questions and pools, question banks with their questions, assignments, and course material
 * files as new rows sharing the stored bytes
 * (removed only when no row refers to them: internal.tg_files_queue_removal). Dates move by
 * shift_days. Nothing of the learners: no enrollments, attempts, submissions, orders, overrides,
 * certificates. The copy is unpublished and owned by the caller; its items keep their publish state,
 * so publishing the course is one call.
 */

create or replace function api.course_copy(course_id uuid, title text default null, shift_days integer default 0)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id    uuid := internal.require_role('instructor', 'admin');
  v_source     app.courses;
  v_owner      uuid;
  v_course     app.courses;
  v_shift      interval := make_interval(days => coalesce(course_copy.shift_days, 0));
  v_old_mod    uuid[];
  v_new_mod    uuid[];
  v_old_lesson uuid[];
  v_new_lesson uuid[];
  v_old_quiz   uuid[];
  v_new_quiz   uuid[];
  v_old_bank   uuid[];
  v_new_bank   uuid[];
  v_old_cat    uuid[];
  v_new_cat    uuid[];
  v_old_asg    uuid[];
  v_new_asg    uuid[];
begin
  perform internal.require_course_manager(course_copy.course_id);  -- 404 unseen, 403 not_course_owner
  select c.* into v_source from app.courses c where c.id = course_copy.course_id;
  -- Owned by the caller; an admin without an instructor profile keeps the course's instructor.
  v_owner := case when internal.is_instructor(v_user_id) then v_user_id else v_source.instructor_id end;
  -- The source stays as it is while it is copied (its structure and its files).
  perform from app.courses c where c.id = v_source.id for key share;
  perform from app.files f where f.course_id = v_source.id for key share;

  insert into app.courses as c (instructor_id, title, short_description, description, price_cents, currency,
                                category, tags, thumbnail_url)
  values (v_owner, coalesce(nullif(btrim(course_copy.title), ''), left(v_source.title, 193) || ' (copy)'),
          v_source.short_description, v_source.description, v_source.price_cents, v_source.currency,
          v_source.category, v_source.tags, v_source.thumbnail_url)
  returning c.* into v_course;

  select coalesce(array_agg(m.id order by m.position), '{}'),
         coalesce(array_agg(gen_random_uuid() order by m.position), '{}')
  into v_old_mod, v_new_mod from app.modules m where m.course_id = v_source.id;
  insert into app.modules (id, course_id, title, description, position, is_published, unlock_at, unlock_after_days,
                           requirement)
  select n.new_id, v_course.id, m.title, m.description, m.position, m.is_published, m.unlock_at + v_shift,
         m.unlock_after_days, m.requirement
  from unnest(v_old_mod, v_new_mod) n(old_id, new_id) join app.modules m on m.id = n.old_id;
  insert into app.module_prerequisites (module_id, prerequisite_id, course_id)
  select a.new_id, b.new_id, v_course.id
  from app.module_prerequisites p
  join unnest(v_old_mod, v_new_mod) a(old_id, new_id) on a.old_id = p.module_id
  join unnest(v_old_mod, v_new_mod) b(old_id, new_id) on b.old_id = p.prerequisite_id
  where p.course_id = v_source.id;

  select coalesce(array_agg(l.id order by l.lesson_order), '{}'),
         coalesce(array_agg(gen_random_uuid() order by l.lesson_order), '{}')
  into v_old_lesson, v_new_lesson from app.lessons l where l.course_id = v_source.id;
  insert into app.lessons (id, course_id, title, content, video_url, duration_minutes, lesson_order, is_published,
                           module_id, module_position)
  select n.new_id, v_course.id, l.title, l.content, l.video_url, l.duration_minutes, l.lesson_order, l.is_published,
         m.new_id, l.module_position
  from unnest(v_old_lesson, v_new_lesson) n(old_id, new_id)
  join app.lessons l on l.id = n.old_id
  left join unnest(v_old_mod, v_new_mod) m(old_id, new_id) on m.old_id = l.module_id;

  -- Grade categories and the letter scheme, before the work that counts in them.
  select coalesce(array_agg(g.id order by g.created_at, g.id), '{}'),
         coalesce(array_agg(gen_random_uuid() order by g.created_at, g.id), '{}')
  into v_old_cat, v_new_cat from app.grade_categories g where g.course_id = v_source.id;
  insert into app.grade_categories (id, course_id, name, weight_percent, drop_lowest)
  select n.new_id, v_course.id, g.name, g.weight_percent, g.drop_lowest
  from unnest(v_old_cat, v_new_cat) with ordinality n(old_id, new_id, ord) join app.grade_categories g on g.id = n.old_id
  order by n.ord;
  insert into app.grade_scheme_letters (course_id, letter, min_percent)
  select v_course.id, s.letter, s.min_percent from app.grade_scheme_letters s where s.course_id = v_source.id;

  select coalesce(array_agg(q.id order by q.created_at, q.id), '{}'),
         coalesce(array_agg(gen_random_uuid() order by q.created_at, q.id), '{}')
  into v_old_quiz, v_new_quiz from app.quizzes q where q.course_id = v_source.id;
  insert into app.quizzes (id, course_id, lesson_id, title, description, time_limit_minutes, passing_score_percentage,
                           max_attempts, is_published, module_id, module_position, shuffle_questions, shuffle_options,
                           partial_credit, grade_category_id, grade_posting)
  select n.new_id, v_course.id, l.new_id, q.title, q.description, q.time_limit_minutes, q.passing_score_percentage,
         q.max_attempts, q.is_published, m.new_id, q.module_position, q.shuffle_questions, q.shuffle_options,
         q.partial_credit, g.new_id, q.grade_posting
  from unnest(v_old_quiz, v_new_quiz) n(old_id, new_id)
  join app.quizzes q on q.id = n.old_id
  left join unnest(v_old_lesson, v_new_lesson) l(old_id, new_id) on l.old_id = q.lesson_id
  left join unnest(v_old_mod, v_new_mod) m(old_id, new_id) on m.old_id = q.module_id
  left join unnest(v_old_cat, v_new_cat) g(old_id, new_id) on g.old_id = q.grade_category_id;
  insert into app.questions (quiz_id, question_text, question_type, options, correct_answer, points, question_order,
                             tolerance)
  select n.new_id, x.question_text, x.question_type, x.options, x.correct_answer, x.points, x.question_order,
         x.tolerance
  from unnest(v_old_quiz, v_new_quiz) n(old_id, new_id) join app.questions x on x.quiz_id = n.old_id;

  -- Question banks with their questions (not the retired ones: no attempt comes along) and the pools.
  select coalesce(array_agg(b.id order by b.created_at, b.id), '{}'),
         coalesce(array_agg(gen_random_uuid() order by b.created_at, b.id), '{}')
  into v_old_bank, v_new_bank from app.question_banks b where b.course_id = v_source.id;
  insert into app.question_banks (id, course_id, title)
  select n.new_id, v_course.id, b.title
  from unnest(v_old_bank, v_new_bank) n(old_id, new_id) join app.question_banks b on b.id = n.old_id;
  insert into app.questions (bank_id, question_text, question_type, options, correct_answer, points, question_order,
                             tolerance)
  select n.new_id, x.question_text, x.question_type, x.options, x.correct_answer, x.points, x.question_order,
         x.tolerance
  from unnest(v_old_bank, v_new_bank) n(old_id, new_id) join app.questions x on x.bank_id = n.old_id
  where x.retired_at is null;
  insert into app.quiz_pools (quiz_id, bank_id, course_id, draw_count, points_each, position)
  select z.new_id, b.new_id, v_course.id, p.draw_count, p.points_each, p.position
  from app.quiz_pools p
  join unnest(v_old_quiz, v_new_quiz) z(old_id, new_id) on z.old_id = p.quiz_id
  join unnest(v_old_bank, v_new_bank) b(old_id, new_id) on b.old_id = p.bank_id
  where p.course_id = v_source.id;

  select coalesce(array_agg(a.id order by a.created_at, a.id), '{}'),
         coalesce(array_agg(gen_random_uuid() order by a.created_at, a.id), '{}')
  into v_old_asg, v_new_asg from app.assignments a where a.course_id = v_source.id;
  insert into app.assignments (id, course_id, lesson_id, title, description, due_date, points, allow_late_submission,
                               late_penalty_percentage, module_id, module_position, grade_category_id, grade_posting)
  select n.new_id, v_course.id, l.new_id, a.title, a.description, a.due_date + v_shift, a.points, a.allow_late_submission,
         a.late_penalty_percentage, m.new_id, a.module_position, g.new_id, a.grade_posting
  from unnest(v_old_asg, v_new_asg) n(old_id, new_id)
  join app.assignments a on a.id = n.old_id
  left join unnest(v_old_lesson, v_new_lesson) l(old_id, new_id) on l.old_id = a.lesson_id
  left join unnest(v_old_mod, v_new_mod) m(old_id, new_id) on m.old_id = a.module_id
  left join unnest(v_old_cat, v_new_cat) g(old_id, new_id) on g.old_id = a.grade_category_id;
  -- Each assignment's current rubric, criteria and levels (a replaced one stays with its grades).
  with r as materialized (
    select r0.id as old_id, gen_random_uuid() as new_id, n.new_id as assignment_id
    from app.rubrics r0 join unnest(v_old_asg, v_new_asg) n(old_id, new_id) on n.old_id = r0.assignment_id
    where r0.replaced_at is null
  ), new_rubrics as (
    insert into app.rubrics (id, assignment_id, course_id, created_by)
    select r.new_id, r.assignment_id, v_course.id, v_user_id from r
  ), c as materialized (
    select c0.id as old_id, gen_random_uuid() as new_id, r.new_id as rubric_id, c0.position, c0.title
    from app.rubric_criteria c0 join r on r.old_id = c0.rubric_id
  ), new_criteria as (
    insert into app.rubric_criteria (id, rubric_id, position, title) select c.new_id, c.rubric_id, c.position, c.title from c
  )
  insert into app.rubric_levels (criterion_id, rubric_id, position, label, points)
  select c.new_id, c.rubric_id, l.position, l.label, l.points from app.rubric_levels l join c on c.old_id = l.criterion_id;

  -- Course material: new rows, the same bytes (no second copy in the storage).
  insert into app.files (uploaded_by, course_id, original_filename, storage_path, content_type, file_size, sha256,
                         storage_provider)
  select v_owner, v_course.id, f.original_filename, f.storage_path, f.content_type, f.file_size, f.sha256,
         f.storage_provider
  from app.files f where f.course_id = v_source.id;

  perform internal.audit('course.copied', 'course', v_course.id,
                         jsonb_build_object('source_id', v_source.id, 'shift_days', coalesce(course_copy.shift_days, 0)));
  return internal.course_json(v_course);
end
$$;
comment on function api.course_copy(uuid, text, integer) is
  'Copy a course for the next term (its instructor or an admin) → the new course, unpublished, owned by the caller (an admin without an instructor profile: by the course''s instructor). In one transaction: modules with their prerequisites, lessons with their content, quizzes with their questions and pools, question banks (without retired questions), assignments, and the course''s material files (new rows sharing the stored bytes). Nothing of the learners: no enrollments, attempts, submissions, orders, overrides or certificates. Dates (module unlock_at, assignment due_date) move by shift_days; items keep their publish state. title: default "<title> (copy)".
@result course
@param title minLength=1 maxLength=200
@param shift_days minimum=-3650 maximum=3650
SECURITY DEFINER: copies lesson content and correct answers, which no client role may select; checks the caller manages the course.';
